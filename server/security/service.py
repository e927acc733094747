"""Use cases for staff accounts, sign-in with TOTP, tokens and department clients."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import qrcode
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import DomainError
from server.security import audit
from server.security.models import AuthToken, DepartmentClient, StaffUser
from server.security.pii import cipher
from server.security.rules import (
    DEPARTMENTS,
    LOCKOUT_MINUTES,
    MAX_FAILED_SIGN_INS,
    Actor,
    ActorKind,
    Role,
    can_create_role,
    matching_totp_step,
    password_problems,
)

TOTP_ISSUER = "社保卡一卡通 SSC One Card"
TOKEN_PREFIX = {ActorKind.STAFF: "st_", ActorKind.CARDHOLDER: "ch_", ActorKind.DEPARTMENT: "dk_"}


def password_hasher() -> PasswordHasher:
    if current_app.config.get("SSC_PASSWORD_HASH_FAST"):
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()  # argon2id, RFC 9106 low-memory profile


# A fixed hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_PASSWORD = "not-a-real-password-Xy9!"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def issue_token(
    session: Session, kind: ActorKind, subject_id: int, now: datetime, ttl: timedelta | None
) -> str:
    token = TOKEN_PREFIX[kind] + secrets.token_urlsafe(32)
    session.add(
        AuthToken(
            token_hash=hash_token(token),
            kind=str(kind),
            subject_id=subject_id,
            created_at=now,
            expires_at=None if ttl is None else now + ttl,
        )
    )
    return token


def staff_actor(user: StaffUser) -> Actor:
    return Actor(
        kind=ActorKind.STAFF,
        id=user.id,
        label=f"staff:{user.username}",
        role=Role(user.role),
        city_code=user.city_code,
        department=user.department,
    )


# --- staff accounts ----------------------------------------------------------------------------


def create_staff_user(
    session: Session,
    creator: Actor | None,
    *,
    username: str,
    display_name: str,
    password: str,
    role: Role,
    city_code: str | None,
    department: str | None,
    now: datetime,
) -> StaffUser:
    """``creator`` None means the operator's CLI. City administrators create users in their city."""
    if creator is not None:
        if not can_create_role(creator, role):
            raise DomainError("auth.forbidden", "This role may not create that role")
        if creator.city_code is not None and city_code != creator.city_code:
            raise DomainError("auth.out_of_scope")
    if role in (Role.BRANCH_STAFF, Role.CITY_ADMIN) and city_code is None:
        raise DomainError(
            "request.validation_failed", errors=[{"field": "body.city_code", "code": "missing"}]
        )
    if role is Role.DEPARTMENT_OFFICER and department not in DEPARTMENTS:
        raise DomainError(
            "request.validation_failed", errors=[{"field": "body.department", "code": "invalid"}]
        )
    problems = password_problems(password, username)
    if problems:
        raise DomainError("auth.weak_password", problems=problems)
    if session.execute(select(StaffUser.id).where(StaffUser.username == username)).first():
        raise DomainError("auth.username_taken")
    user = StaffUser(
        username=username,
        display_name=display_name,
        role=str(role),
        city_code=city_code,
        department=department,
        password_hash=password_hasher().hash(password),
        active=True,
        failed_sign_ins=0,
        created_at=now,
        created_by=creator.id if creator else None,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        creator,
        "staff.created",
        object_type="staff_user",
        object_id=user.id,
        city_code=city_code,
        now=now,
        role=str(role),
        username=username,
    )
    session.commit()
    return user


def list_staff(session: Session, actor: Actor) -> list[StaffUser]:
    query = select(StaffUser).order_by(StaffUser.id)
    if actor.city_code is not None:
        query = query.where(StaffUser.city_code == actor.city_code)
    return list(session.execute(query).scalars())


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    provisioning_uri: str
    qr_png_base64: str


def _check_password(session: Session, username: str, password: str, now: datetime) -> StaffUser:
    user = session.execute(
        select(StaffUser).where(StaffUser.username == username).with_for_update()
    ).scalar_one_or_none()
    hasher = password_hasher()
    if user is None:
        with contextlib.suppress(VerificationError):
            hasher.verify(hasher.hash(_DUMMY_PASSWORD), password + "x")
        raise DomainError("auth.invalid_credentials")
    if not user.active:
        raise DomainError("auth.account_disabled")
    if user.locked_until is not None and user.locked_until > now:
        raise DomainError("auth.account_locked")
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        _count_failure(session, user, now)
        raise DomainError("auth.invalid_credentials") from None
    return user


def _count_failure(session: Session, user: StaffUser, now: datetime) -> None:
    """A failed sign-in is written even though the request fails: that is the point of counting."""
    user.failed_sign_ins += 1
    if user.failed_sign_ins >= MAX_FAILED_SIGN_INS:
        user.locked_until = now + timedelta(minutes=LOCKOUT_MINUTES)
        user.failed_sign_ins = 0
        audit.record(
            session,
            None,
            "staff.locked",
            object_type="staff_user",
            object_id=user.id,
            city_code=user.city_code,
            now=now,
        )
    session.commit()


def begin_totp_enrolment(
    session: Session, *, username: str, password: str, now: datetime
) -> TotpEnrolment:
    """First sign-in: password checked, a new TOTP secret generated and shown once as a QR code.
    The enrolment completes at the first sign-in with a valid code."""
    user = _check_password(session, username, password, now)
    if user.totp_enrolled_at is not None:
        raise DomainError("auth.totp_already_enrolled")
    return new_totp_secret(session, user, staff_actor(user), now)


def new_totp_secret(
    session: Session, user: StaffUser, actor: Actor | None, now: datetime
) -> TotpEnrolment:
    """Give ``user`` a fresh TOTP secret, returned once with its provisioning QR code."""
    secret = pyotp.random_base32()
    user.totp_secret_enc = cipher().encrypt("staff.totp_secret", secret)
    user.totp_enrolled_at = None
    user.totp_last_step = None
    audit.record(
        session,
        actor,
        "staff.totp_enrolment_started",
        object_type="staff_user",
        object_id=user.id,
        city_code=user.city_code,
        now=now,
    )
    session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)
    image = qrcode.make(uri, box_size=6, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return TotpEnrolment(secret, uri, base64.b64encode(buffer.getvalue()).decode())


def sign_in_staff(
    session: Session, *, username: str, password: str, totp_code: str | None, now: datetime
) -> tuple[str, StaffUser]:
    user = _check_password(session, username, password, now)
    if user.totp_secret_enc is None:
        raise DomainError("auth.totp_not_enrolled")
    if not totp_code:
        raise DomainError("auth.totp_required")
    secret = cipher().decrypt("staff.totp_secret", user.totp_secret_enc)
    step = matching_totp_step(pyotp.TOTP(secret), totp_code, now)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        _count_failure(session, user, now)
        raise DomainError("auth.totp_incorrect")
    user.totp_last_step = step
    user.failed_sign_ins = 0
    if user.totp_enrolled_at is None:
        user.totp_enrolled_at = now
    ttl = timedelta(minutes=current_app.config["SSC_STAFF_TOKEN_TTL_MINUTES"])
    token = issue_token(session, ActorKind.STAFF, user.id, now, ttl)
    audit.record(
        session,
        staff_actor(user),
        "staff.signed_in",
        object_type="staff_user",
        object_id=user.id,
        city_code=user.city_code,
        now=now,
    )
    session.commit()
    return token, user


def sign_out(session: Session, actor: Actor, token: str, now: datetime) -> None:
    row = session.execute(
        select(AuthToken).where(AuthToken.token_hash == hash_token(token))
    ).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        audit.record(
            session,
            actor,
            "auth.signed_out",
            object_type=str(actor.kind),
            object_id=actor.id,
            now=now,
        )
        session.commit()


def reset_staff_totp(session: Session, actor: Actor, user_id: int, now: datetime) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise DomainError("request.not_found")
    if actor.city_code is not None and user.city_code != actor.city_code:
        raise DomainError("auth.out_of_scope")
    user.totp_secret_enc = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    audit.record(
        session,
        actor,
        "staff.totp_reset",
        object_type="staff_user",
        object_id=user.id,
        city_code=user.city_code,
        now=now,
    )
    session.commit()
    return user


# --- tokens to actors --------------------------------------------------------------------------


def authenticate(session: Session, token: str, now: datetime) -> Actor | None:
    """The actor a bearer token stands for, or None when it is unknown, expired or revoked."""
    row = session.execute(
        select(AuthToken).where(AuthToken.token_hash == hash_token(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    kind = ActorKind(row.kind)
    if kind is ActorKind.STAFF:
        user = session.get(StaffUser, row.subject_id)
        if user is None or not user.active:
            return None
        return staff_actor(user)
    if kind is ActorKind.DEPARTMENT:
        client = session.get(DepartmentClient, row.subject_id)
        if client is None or not client.active:
            return None
        return Actor(
            kind=kind,
            id=client.id,
            label=f"department:{client.id}",
            city_code=client.city_code,
            department=client.department,
        )
    if kind is ActorKind.CARDHOLDER:
        from server.registry.models import Person

        person = session.get(Person, row.subject_id)
        if person is None:
            return None
        return Actor(kind=kind, id=person.id, label=f"cardholder:{person.id}")
    return None


# --- department clients -------------------------------------------------------------------------


def create_department_client(
    session: Session,
    actor: Actor | None,
    *,
    name: str,
    department: str,
    city_code: str | None,
    now: datetime,
) -> tuple[DepartmentClient, str]:
    """A department system and its API key (shown once)."""
    if department not in DEPARTMENTS:
        raise DomainError(
            "request.validation_failed", errors=[{"field": "body.department", "code": "invalid"}]
        )
    client = DepartmentClient(
        name=name, department=department, city_code=city_code, active=True, created_at=now
    )
    session.add(client)
    session.flush()
    key = issue_token(session, ActorKind.DEPARTMENT, client.id, now, ttl=None)
    audit.record(
        session,
        actor,
        "department_client.created",
        object_type="department_client",
        object_id=client.id,
        city_code=city_code,
        now=now,
        department=department,
    )
    session.commit()
    return client, key
