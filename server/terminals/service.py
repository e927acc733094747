"""Use cases: the terminal registry, signed-request authentication, list downloads, online
verification. Services take ``now`` and commit at the end of a use case."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.credentials.codec import Scene
from server.errors import DomainError
from server.registry.rules import CITY_BY_CODE
from server.security import audit
from server.security.auth import ensure_scope
from server.security.pii import cipher
from server.security.rules import Actor, ActorKind
from server.terminals.models import Terminal, TerminalNonce
from server.terminals.rules import (
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TERMINAL,
    HEADER_TIMESTAMP,
    TerminalAction,
    TerminalKind,
    TerminalStatus,
    header_problem,
    new_secret,
    next_status,
    nonce_retention_s,
    scene_allowed,
    scene_from_name,
    serves_any,
    should_touch_last_seen,
    signature_matches,
    timestamp_fresh,
    valid_code,
)

log = logging.getLogger("server.terminals")

SECRET_FIELD = "terminal.secret"


def terminal_actor(terminal: Terminal) -> Actor:
    return Actor(
        kind=ActorKind.TERMINAL,
        id=terminal.id,
        label=f"terminal:{terminal.code}",
        city_code=terminal.city_code,
    )


def _audit(
    session: Session, actor: Actor | None, action: str, terminal: Terminal, now: datetime, **detail
) -> None:
    audit.record(
        session,
        actor,
        action,
        object_type="terminal",
        object_id=terminal.id,
        city_code=terminal.city_code,
        now=now,
        code=terminal.code,
        **detail,
    )


# --- registry ------------------------------------------------------------------------------------


def register_terminal(
    session: Session,
    actor: Actor | None,
    *,
    code: str,
    kind: str,
    city_code: str,
    owner: str,
    location: str | None = None,
    now: datetime,
) -> tuple[Terminal, str]:
    """Register a terminal; returns it and its HMAC secret, which is never shown again.
    ``actor`` None is the operator's CLI. A city-scoped actor registers terminals in its city."""
    if not valid_code(code):
        raise DomainError(
            "request.validation_failed", errors=[{"field": "body.code", "code": "invalid"}]
        )
    kind = str(TerminalKind(kind))
    if city_code not in CITY_BY_CODE:
        raise DomainError("city.unknown", city_code=city_code)
    if actor is not None:
        ensure_scope(actor, city_code)
    if session.execute(select(Terminal.id).where(Terminal.code == code)).first():
        raise DomainError("terminal.code_taken")
    secret = new_secret()
    terminal = Terminal(
        code=code,
        kind=kind,
        owner=owner,
        city_code=city_code,
        location=location,
        status=str(TerminalStatus.ACTIVE),
        secret_enc=cipher().encrypt(SECRET_FIELD, secret),
        created_at=now,
        created_by=actor.id if actor else None,
    )
    session.add(terminal)
    try:
        session.flush()
    except IntegrityError:  # a concurrent registration of the same code
        session.rollback()
        raise DomainError("terminal.code_taken") from None
    _audit(session, actor, "terminal.registered", terminal, now, kind=kind)
    session.commit()
    return terminal, secret


def list_terminals(
    session: Session,
    actor: Actor,
    *,
    city_code: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Terminal]:
    """Terminals in the actor's scope, by id (keyset pages: pass the last id as ``after_id``)."""
    query = select(Terminal).where(Terminal.id > after_id)
    if actor.city_code is not None:
        query = query.where(Terminal.city_code == actor.city_code)
    if city_code is not None:
        query = query.where(Terminal.city_code == city_code)
    if status is not None:
        query = query.where(Terminal.status == status)
    if kind is not None:
        query = query.where(Terminal.kind == kind)
    return list(session.execute(query.order_by(Terminal.id).limit(limit)).scalars())


def _load_for_change(session: Session, actor: Actor, terminal_id: int) -> Terminal:
    terminal = session.get(Terminal, terminal_id, with_for_update=True)
    if terminal is None:
        raise DomainError("terminal.not_found")
    ensure_scope(actor, terminal.city_code)
    return terminal


_STATUS_EVENTS = {
    TerminalAction.DISABLE: "terminal.disabled",
    TerminalAction.ENABLE: "terminal.enabled",
    TerminalAction.RETIRE: "terminal.retired",
}


def change_status(
    session: Session, actor: Actor, terminal_id: int, action: TerminalAction, now: datetime
) -> Terminal:
    """Disable, enable or retire. Repeating a disable/enable changes nothing and is not audited."""
    terminal = _load_for_change(session, actor, terminal_id)
    target = next_status(terminal.status, action)
    if target is None or action is TerminalAction.ROTATE_SECRET:
        raise DomainError("terminal.invalid_transition", status=terminal.status)
    if target != terminal.status:
        previous = terminal.status
        terminal.status = str(target)
        _audit(session, actor, _STATUS_EVENTS[action], terminal, now, previous=previous)
    session.commit()
    return terminal


def rotate_secret(
    session: Session, actor: Actor, terminal_id: int, now: datetime
) -> tuple[Terminal, str]:
    """A new HMAC secret, shown once; the old one stops working at once."""
    terminal = _load_for_change(session, actor, terminal_id)
    if next_status(terminal.status, TerminalAction.ROTATE_SECRET) is None:
        raise DomainError("terminal.invalid_transition", status=terminal.status)
    secret = new_secret()
    terminal.secret_enc = cipher().encrypt(SECRET_FIELD, secret)
    terminal.secret_rotated_at = now
    _audit(session, actor, "terminal.secret_rotated", terminal, now)
    session.commit()
    return terminal, secret


# --- signed requests -----------------------------------------------------------------------------


def authenticate_request(
    session: Session,
    *,
    headers: Mapping[str, str | None],
    method: str,
    path: str,
    query: str,
    body: bytes,
    now: datetime,
    clock_skew_s: int,
    scenes: Collection[Scene] | None = None,
) -> Terminal:
    """Check a signed terminal request and record its nonce in the caller's transaction.

    Order: headers → terminal known → signature → terminal active → timestamp fresh → scenes →
    nonce unused. The signature is checked before the status, so only the secret's holder learns
    that a terminal is disabled. Nothing is written for a refused request; the nonce row commits
    with the request's use case (so of concurrent copies of one request, exactly one passes)."""
    bad_header = header_problem(dict(headers))
    if bad_header is not None:
        raise DomainError("terminal.unauthenticated", f"{bad_header} missing or malformed")
    code = str(headers[HEADER_TERMINAL])
    timestamp = str(headers[HEADER_TIMESTAMP])
    nonce = str(headers[HEADER_NONCE])
    terminal = None
    if valid_code(code):
        terminal = session.execute(
            select(Terminal).where(Terminal.code == code)
        ).scalar_one_or_none()
    if terminal is None:
        raise DomainError("terminal.unknown")
    secret = cipher().decrypt(SECRET_FIELD, terminal.secret_enc)
    if not signature_matches(
        secret,
        str(headers[HEADER_SIGNATURE]),
        method=method,
        path=path,
        query=query,
        timestamp=timestamp,
        nonce=nonce,
        body=body,
    ):
        raise DomainError("terminal.bad_signature")
    if terminal.status != TerminalStatus.ACTIVE:
        raise DomainError("terminal.disabled")
    if not timestamp_fresh(timestamp, now, clock_skew_s):
        raise DomainError("terminal.stale_timestamp")
    if scenes is not None and not serves_any(terminal.kind, scenes):
        raise DomainError("terminal.scene_not_allowed")
    session.add(TerminalNonce(terminal_id=terminal.id, nonce=nonce, created_at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise DomainError("terminal.nonce_reused") from None
    if should_touch_last_seen(terminal.last_seen_at, now):
        terminal.last_seen_at = now
    return terminal


def purge_nonces(session: Session, now: datetime, clock_skew_s: int) -> int:
    """Forget nonces too old to matter: their requests fail the timestamp check anyway."""
    cutoff = now - timedelta(seconds=nonce_retention_s(clock_skew_s))
    result = session.execute(delete(TerminalNonce).where(TerminalNonce.created_at < cutoff))
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- downloads and online verification -----------------------------------------------------------


def credential_service() -> ModuleType:
    """``server.credentials.service`` (trust list, revocation list, online verification), imported
    when first needed."""
    from server.credentials import service

    return service


@dataclass(frozen=True)
class Download:
    """A list document, its JSON bytes, and a strong ETag."""

    document: dict[str, Any]
    body: bytes
    etag: str


def _download(document: dict[str, Any]) -> Download:
    # The ETag covers the content, not ``generated_at``: an unchanged list revalidates as 304
    # however often it is regenerated.
    content = {k: v for k, v in document.items() if k != "generated_at"}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    etag = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return Download(document=document, body=body, etag=etag)


def trust_list_download(session: Session, now: datetime) -> Download:
    return _download(credential_service().trust_list_document(session, now))


def revocation_list_download(session: Session, since: int | None, now: datetime) -> Download:
    return _download(credential_service().revocation_list_document(session, since, now))


def verify_code(
    session: Session, terminal: Terminal, *, code: str, scene: str, now: datetime
) -> dict[str, Any]:
    """Verify a QR code online for ``terminal`` and record the use (refusals raise
    ``credential.<code>``). The scene must be one the terminal's kind serves."""
    wanted = scene_from_name(scene)
    if not scene_allowed(terminal.kind, wanted):
        raise DomainError("terminal.scene_not_allowed", scene=scene)
    result = credential_service().verify_online(
        session,
        text=code,
        scene=wanted,
        terminal_id=terminal.id,
        now=now,
        actor_label=f"terminal:{terminal.code}",
    )
    session.commit()
    return result
