"""API schemas of sign-in, users, roles, API tokens and the audit trail (no secrets out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.domain.permissions import Grant, Permission, Scope

Password = Field(min_length=1, max_length=1024)


class LoginRequest(BaseModel):
    """Username, password, and the authenticator code when the account has one."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=200)
    password: str = Password
    totp: str | None = Field(None, max_length=16)


class SetupRequest(BaseModel):
    """The first administrator, with the setup token the server printed."""

    model_config = ConfigDict(extra="forbid")
    setup_token: str = Field(min_length=1, max_length=200)
    username: str = Field(min_length=1, max_length=64)
    password: str = Password
    display_name: str | None = Field(None, max_length=200)


class AuthStatus(BaseModel):
    """What the web client needs before anyone signs in."""

    setup_required: bool


class ScopeBody(BaseModel):
    """Cameras: ``all``, ``assigned`` (a role's grant: the assignment's cameras), or listed
    camera groups and cameras."""

    model_config = ConfigDict(extra="forbid")
    all: bool = False
    assigned: bool = False
    groups: list[int] = Field(default_factory=list, max_length=10000)
    cameras: list[int] = Field(default_factory=list, max_length=10000)

    def to_domain(self) -> Scope:
        """As ``domain/permissions.py`` ``Scope``."""
        return Scope(self.all, self.assigned, frozenset(self.groups), frozenset(self.cameras))

    @classmethod
    def of(cls, scope: Scope) -> ScopeBody:
        """From the domain's scope."""
        return cls(
            all=scope.all,
            assigned=scope.assigned,
            groups=sorted(scope.groups),
            cameras=sorted(scope.cameras),
        )


class GrantBody(BaseModel):
    """Permissions on a scope of cameras."""

    model_config = ConfigDict(extra="forbid")
    permissions: list[Permission] = Field(min_length=1)
    scope: ScopeBody

    def to_domain(self) -> Grant:
        """As ``domain/permissions.py`` ``Grant``."""
        return Grant(frozenset(self.permissions), self.scope.to_domain())


class RoleBody(BaseModel):
    """A custom role."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w .-]+$")
    description: str | None = Field(None, max_length=2000)
    grants: list[GrantBody] = Field(min_length=1, max_length=100)


class RolePublic(BaseModel):
    """A role as shown."""

    id: int
    name: str
    description: str | None
    builtin: bool
    grants: list[GrantBody]


class AssignmentBody(BaseModel):
    """A role given to a user; ``scope`` narrows it (an operator's cameras)."""

    model_config = ConfigDict(extra="forbid")
    role: str = Field(min_length=1, max_length=64)
    scope: ScopeBody | None = None


class UserCreate(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Password
    display_name: str | None = Field(None, max_length=200)
    roles: list[AssignmentBody] = Field(default_factory=list, max_length=100)


class UserUpdate(BaseModel):
    """Fields to change; those left out stay as they are. A new password signs the user
    out everywhere, as does disabling."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(None, max_length=200)
    disabled: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=1024)
    roles: list[AssignmentBody] | None = Field(None, max_length=100)


class UserPublic(BaseModel):
    """A user without secrets."""

    id: int
    username: str
    display_name: str | None
    totp_enabled: bool
    disabled: bool
    locked_until: datetime | None
    created_at: datetime
    last_login_at: datetime | None
    roles: list[AssignmentBody]


class MePublic(BaseModel):
    """The signed-in caller and what they may do."""

    id: int
    username: str
    display_name: str | None
    via: str
    totp_enabled: bool
    mfa_passed: bool
    roles: list[AssignmentBody]
    global_permissions: list[Permission]
    permissions_anywhere: list[Permission]
    csrf_token: str | None = Field(None, description="for the X-CSRF-Token header (sessions)")


class PasswordChange(BaseModel):
    """Change one's own password."""

    model_config = ConfigDict(extra="forbid")
    current_password: str = Password
    new_password: str = Password


class TotpSetup(BaseModel):
    """A new TOTP secret to put into an authenticator app, then confirm with a code."""

    secret: str
    provisioning_uri: str


class TotpCode(BaseModel):
    """A code from the authenticator app."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=6, max_length=16)


class TokenCreate(BaseModel):
    """A new API token (for the caller, or for ``user_id``)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    user_id: int | None = None
    scopes: list[Permission] | None = Field(
        None, description="limit the token to these of its user's permissions; null: all"
    )
    expires_at: datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> TokenCreate:
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)")
        return self


class TokenPublic(BaseModel):
    """A token without its secret."""

    id: int
    prefix: str
    name: str
    user_id: int
    scopes: list[Permission] | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    """A token just made: ``token`` is shown this once and never again."""

    token: str


class AuditEntryPublic(BaseModel):
    """One audit entry."""

    id: int
    at: datetime
    username: str | None
    action: str
    camera_id: int | None
    target: str | None
    address: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    """A page of entries, newest first."""

    total: int
    offset: int
    limit: int
    entries: list[AuditEntryPublic]


class ChainProblemPublic(BaseModel):
    """One break in the audit chain."""

    id: int
    kind: str
    message: str


class ChainReportPublic(BaseModel):
    """The result of checking the whole audit chain."""

    ok: bool
    entries: int
    last_id: int
    problems: list[ChainProblemPublic]
