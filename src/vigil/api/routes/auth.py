"""Signing in and out, the caller's own account (password, TOTP), first-run setup."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse

from vigil.api.auth import CurrentUser, client_address
from vigil.api.deps import ContextDep, ServerContext
from vigil.api.errors import FieldError
from vigil.api.routes.users import assignment_public, user_public
from vigil.api.schemas_auth import (
    AuthStatus,
    LoginRequest,
    MePublic,
    PasswordChange,
    SetupRequest,
    TotpCode,
    TotpSetup,
    UserPublic,
)
from vigil.domain.errors import Conflict
from vigil.domain.permissions import global_permissions, permissions_anywhere
from vigil.security import audit, passwords, totp
from vigil.security.login import (
    GENERIC_FAILURE,
    LoginFailed,
    LoginThrottledError,
    SecondFactorRequired,
    login,
)
from vigil.security.sessions import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    NewSession,
    revoke_session,
    revoke_user_sessions,
)
from vigil.store import users as user_store
from vigil.store.types import utcnow
from vigil.store.users import InvalidUsername

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/auth", tags=["auth"])


def _secure(request: Request, ctx: ServerContext) -> bool:
    """Cookies are Secure when configured so, and always when served over HTTPS."""
    return ctx.settings.auth.cookie_secure or request.url.scheme == "https"


def _set_cookies(
    response: Response, request: Request, ctx: ServerContext, session: NewSession
) -> None:
    max_age = int(ctx.settings.auth.session_absolute_hours * 3600)
    secure = _secure(request, ctx)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=max_age,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    # Readable by the page's script, which sends it back in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE,
        session.info.csrf_token,
        max_age=max_age,
        httponly=False,
        secure=secure,
        samesite="strict",
        path="/",
    )


def _clear_cookies(response: Response, request: Request, ctx: ServerContext) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=_secure(request, ctx), samesite="strict")


@router.get("/status", response_model=AuthStatus)
def auth_status(ctx: ContextDep) -> AuthStatus:
    """Public: whether the installation still needs its first administrator."""
    return AuthStatus(setup_required=user_store.count_users(ctx.db) == 0)


@router.post(
    "/login",
    response_model=MePublic,
    responses={401: {"description": "refused"}, 429: {"description": "throttled or locked"}},
)
def login_route(body: LoginRequest, request: Request, ctx: ContextDep) -> Response:
    """Sign in: sets the session cookie (HttpOnly) and the CSRF cookie (for the header)."""
    try:
        result = login(
            ctx.db,
            secrets=ctx.secrets,
            policy=ctx.settings.auth,
            username=body.username,
            password=body.password,
            code=body.totp,
            address=client_address(request),
            user_agent=request.headers.get("user-agent"),
        )
    except LoginThrottledError as exc:
        return JSONResponse(
            {"detail": str(exc), "locked": exc.throttled.locked},
            status_code=429,
            headers={"Retry-After": str(exc.throttled.retry_after_s)},
        )
    except SecondFactorRequired as exc:
        return JSONResponse({"detail": str(exc), "totp_required": True}, status_code=401)
    except LoginFailed:
        return JSONResponse({"detail": GENERIC_FAILURE}, status_code=401)
    user = user_store.get_user(ctx.db, result.user_id)
    assert user is not None
    roles = user_store.assignments_of(ctx.db, user.id)
    me = MePublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        via="session",
        totp_enabled=user.totp_enabled,
        mfa_passed=result.session.info.mfa_passed,
        roles=[assignment_public(a) for a in user.roles],
        global_permissions=sorted(global_permissions(roles)),
        permissions_anywhere=sorted(permissions_anywhere(roles)),
        csrf_token=result.session.info.csrf_token,
    )
    response = JSONResponse(me.model_dump(mode="json"))
    _set_cookies(response, request, ctx, result.session)
    return response


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, user: CurrentUser, ctx: ContextDep) -> Response:
    """Sign out: ends this session and clears its cookies."""
    if (cookie := request.cookies.get(SESSION_COOKIE)) is not None:
        revoke_session(ctx.db, cookie)
    audit.record(
        ctx.db, action="auth.logout", username=user.username, address=client_address(request)
    )
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_cookies(response, request, ctx)
    return response


@router.get("/me", response_model=MePublic)
def me(user: CurrentUser, ctx: ContextDep) -> MePublic:
    """The signed-in caller, their roles and permissions."""
    info = user_store.get_user(ctx.db, user.user_id)
    assert info is not None
    return MePublic(
        id=user.user_id,
        username=user.username,
        display_name=user.display_name,
        via=user.via,
        totp_enabled=info.totp_enabled,
        mfa_passed=bool(user.session and user.session.mfa_passed),
        roles=[assignment_public(a) for a in info.roles],
        global_permissions=sorted(user.global_permissions()),
        permissions_anywhere=sorted(user.permissions_anywhere()),
        csrf_token=user.session.csrf_token if user.session else None,
    )


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(
    body: PasswordChange, request: Request, user: CurrentUser, ctx: ContextDep
) -> Response:
    """Change one's own password; every other session of the user ends."""
    creds = user_store.credentials_by_id(ctx.db, user.user_id)
    assert creds is not None
    ok, _ = passwords.verify_password(creds.password_hash, body.current_password)
    address = client_address(request)
    if not ok:
        audit.record(
            ctx.db,
            action="auth.password",
            outcome=audit.Outcome.FAILURE,
            username=user.username,
            address=address,
        )
        raise FieldError("current_password", "the current password is wrong")
    try:
        passwords.check_policy(body.new_password, user.username)
    except passwords.WeakPassword as exc:
        raise FieldError("new_password", str(exc)) from None
    user_store.update_user(
        ctx.db, user.user_id, password_hash=passwords.hash_password(body.new_password)
    )
    revoke_user_sessions(ctx.db, user.user_id)
    audit.record(ctx.db, action="auth.password", username=user.username, address=address)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_cookies(response, request, ctx)
    return response


@router.post("/totp/setup", response_model=TotpSetup)
def totp_setup(request: Request, user: CurrentUser, ctx: ContextDep) -> TotpSetup:
    """Start (or restart) the second factor: a new secret, used once confirmed."""
    info = user_store.get_user(ctx.db, user.user_id)
    assert info is not None
    if info.totp_enabled:
        raise Conflict("the second factor is already on: an administrator can reset it")
    secret = totp.new_secret()
    user_store.set_totp(
        ctx.db, user.user_id, secret_encrypted=ctx.secrets.encrypt(secret), enabled=False
    )
    audit.record(
        ctx.db, action="auth.totp.setup", username=user.username, address=client_address(request)
    )
    return TotpSetup(secret=secret, provisioning_uri=totp.provisioning_uri(secret, user.username))


@router.post("/totp/confirm", status_code=status.HTTP_204_NO_CONTENT)
def totp_confirm(body: TotpCode, request: Request, user: CurrentUser, ctx: ContextDep) -> Response:
    """Switch the second factor on with a first code from the authenticator app."""
    creds = user_store.credentials_by_id(ctx.db, user.user_id)
    assert creds is not None
    address = client_address(request)
    if creds.totp_enabled or creds.totp_secret is None:
        raise Conflict("start with POST /api/auth/totp/setup")
    counter = totp.verify(
        ctx.secrets.decrypt(creds.totp_secret), body.code, last_counter=None, at=utcnow()
    )
    if counter is None:
        audit.record(
            ctx.db,
            action="auth.totp.enable",
            outcome=audit.Outcome.FAILURE,
            username=user.username,
            address=address,
        )
        raise FieldError("code", "wrong code: check the authenticator app and the clock")
    user_store.set_totp(
        ctx.db,
        user.user_id,
        secret_encrypted=creds.totp_secret,
        enabled=True,
        last_counter=counter,
    )
    audit.record(ctx.db, action="auth.totp.enable", username=user.username, address=address)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/setup", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def setup(body: SetupRequest, request: Request, ctx: ContextDep) -> UserPublic:
    """Public, once: create the first administrator with the server's setup token."""
    try:
        user = ctx.setup.redeem(
            ctx.db,
            token=body.setup_token,
            username=body.username,
            password=body.password,
            address=client_address(request),
        )
    except PermissionError as exc:
        raise HTTPException(403, str(exc)) from None
    except passwords.WeakPassword as exc:
        raise FieldError("password", str(exc)) from None
    except InvalidUsername as exc:
        raise FieldError("username", str(exc)) from None
    if body.display_name:
        user = user_store.update_user(ctx.db, user.id, display_name=body.display_name)
    log.info("first administrator %r created through the setup token", user.username)
    return user_public(ctx, user)
