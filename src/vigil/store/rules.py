"""Rules and time profiles in the database. Specs are stored as JSON (see ``domain/rules``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vigil.store.db import Database
from vigil.store.models import Rule, TimeProfile
from vigil.store.types import utcnow


class DuplicateName(ValueError):
    """Another row of the same kind already has this name."""


class InUse(ValueError):
    """The row is referenced by a rule; the message names the rules."""


# ----- rules --------------------------------------------------------------------------------


def list_rules(db: Database, *, enabled_only: bool = False) -> Sequence[Rule]:
    """All rules, by name."""
    query = select(Rule).order_by(Rule.name)
    if enabled_only:
        query = query.where(Rule.enabled.is_(True))
    with db.session() as s:
        return s.scalars(query).all()


def get_rule(db: Database, rule_id: int) -> Rule | None:
    """One rule, or None."""
    with db.session() as s:
        return s.get(Rule, rule_id)


def create_rule(db: Database, *, name: str, enabled: bool, spec: dict[str, Any]) -> Rule:
    """Insert a rule; raises DuplicateName."""
    try:
        with db.session() as s:
            rule = Rule(name=name, enabled=enabled, spec=spec)
            s.add(rule)
            s.flush()
            return rule
    except IntegrityError as exc:
        raise DuplicateName(name) from exc


def update_rule(
    db: Database, rule_id: int, *, name: str, enabled: bool, spec: dict[str, Any]
) -> Rule | None:
    """Replace a rule's spec; None when it does not exist; raises DuplicateName."""
    try:
        with db.session() as s:
            rule = s.get(Rule, rule_id)
            if rule is None:
                return None
            rule.name, rule.enabled, rule.spec = name, enabled, spec
            rule.updated_at = utcnow()
            s.flush()
            return rule
    except IntegrityError as exc:
        raise DuplicateName(name) from exc


def delete_rule(db: Database, rule_id: int) -> bool:
    """Remove a rule (its alarms stay, keeping its name); False when it did not exist."""
    with db.session() as s:
        rule = s.get(Rule, rule_id)
        if rule is None:
            return False
        s.delete(rule)
        return True


def rules_using(
    db: Database, *, time_profile_id: int | None = None, group_id: int | None = None
) -> list[str]:
    """Names of the rules that use a time profile or a camera group."""
    names = []
    for rule in list_rules(db):
        spec = rule.spec
        conditions = spec.get("conditions") or {}
        if time_profile_id is not None and conditions.get("time_profile_id") == time_profile_id:
            names.append(rule.name)
        if group_id is not None and group_id in (spec.get("trigger") or {}).get(
            "camera_groups", []
        ):
            names.append(rule.name)
    return names


# ----- time profiles ------------------------------------------------------------------------


def list_time_profiles(db: Database) -> Sequence[TimeProfile]:
    """All time profiles, by name."""
    with db.session() as s:
        return s.scalars(select(TimeProfile).order_by(TimeProfile.name)).all()


def get_time_profile(db: Database, profile_id: int) -> TimeProfile | None:
    """One time profile, or None."""
    with db.session() as s:
        return s.get(TimeProfile, profile_id)


def save_time_profile(
    db: Database, *, profile_id: int | None, name: str, spec: dict[str, Any]
) -> TimeProfile | None:
    """Insert (no id) or replace a time profile; None when the id does not exist."""
    try:
        with db.session() as s:
            if profile_id is None:
                profile = TimeProfile(name=name, spec=spec)
                s.add(profile)
            else:
                found = s.get(TimeProfile, profile_id)
                if found is None:
                    return None
                profile = found
                profile.name, profile.spec = name, spec
            s.flush()
            return profile
    except IntegrityError as exc:
        raise DuplicateName(name) from exc


def delete_time_profile(db: Database, profile_id: int) -> bool:
    """Remove a time profile; raises InUse when a rule uses it."""
    if users := rules_using(db, time_profile_id=profile_id):
        raise InUse(f"time profile {profile_id} is used by rule(s): {', '.join(users)}")
    with db.session() as s:
        profile = s.get(TimeProfile, profile_id)
        if profile is None:
            return False
        s.delete(profile)
        return True
