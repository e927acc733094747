"""Use cases: the terminal registry, signed-request authentication, list downloads, online
verification. Services take ``now`` and commit at the end of a use case."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, delete, select, update
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
    _forget(terminal)
    return terminal


def rotate_secret(
    session: Session, actor: Actor, terminal_id: int, now: datetime
) -> tuple[Terminal, str]:
    """A new HMAC secret, shown once; the old one stops working at once in this process and
    within ``SSC_TERMINAL_CACHE_S`` in the others (see :class:`TerminalCache`)."""
    terminal = _load_for_change(session, actor, terminal_id)
    if next_status(terminal.status, TerminalAction.ROTATE_SECRET) is None:
        raise DomainError("terminal.invalid_transition", status=terminal.status)
    secret = new_secret()
    terminal.secret_enc = cipher().encrypt(SECRET_FIELD, secret)
    terminal.secret_rotated_at = now
    _audit(session, actor, "terminal.secret_rotated", terminal, now)
    session.commit()
    _forget(terminal)
    return terminal, secret


# --- signed requests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TerminalRecord:
    """What signed-request authentication needs of a terminal row, secret decrypted."""

    id: int
    code: str
    kind: str
    owner: str
    city_code: str
    location: str | None
    status: str
    secret: str
    created_at: datetime
    created_by: int | None
    secret_rotated_at: datetime | None
    last_seen_at: datetime | None
    _terminal: Terminal | None = field(default=None, init=False, compare=False, repr=False)

    def as_terminal(self) -> Terminal:
        """A transient (session-less) :class:`Terminal` with the row's values, no secret: built
        once per record (a record is replaced, never changed) and shared by the requests that use
        the record, which only read it (~25 µs a request saved on the busiest routes)."""
        if self._terminal is None:
            object.__setattr__(self, "_terminal", self._build_terminal())
        return self._terminal  # type: ignore[return-value]

    def _build_terminal(self) -> Terminal:
        return Terminal(
            id=self.id,
            code=self.code,
            kind=self.kind,
            owner=self.owner,
            city_code=self.city_code,
            location=self.location,
            status=self.status,
            created_at=self.created_at,
            created_by=self.created_by,
            secret_rotated_at=self.secret_rotated_at,
            last_seen_at=self.last_seen_at,
        )


_RECORD_COLUMNS = (
    Terminal.id,
    Terminal.code,
    Terminal.kind,
    Terminal.owner,
    Terminal.city_code,
    Terminal.location,
    Terminal.status,
    Terminal.secret_enc,
    Terminal.created_at,
    Terminal.created_by,
    Terminal.secret_rotated_at,
    Terminal.last_seen_at,
)


class TerminalCache:
    """Terminal records (status, kind, city, decrypted secret) per process, by code.

    An entry is trusted for ``SSC_TERMINAL_CACHE_S`` seconds (default 1 s; 0, as in the tests,
    turns the cache off): a terminal disabled, retired or given a new secret by another process is
    refused, or its old secret stops working, within that time. Changes made in this process drop
    the entry at once, and a signature that does not match the cached secret is checked again
    against the row (so a rotated secret works at once). Unknown codes are never cached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, _TerminalRecord]] = {}

    def get(self, code: str, ttl: float) -> _TerminalRecord | None:
        found = self._entries.get(code)
        if found is None or time.monotonic() - found[0] >= ttl:
            return None
        return found[1]

    def put(self, record: _TerminalRecord, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= _TERMINAL_CACHE_MAX:
                self._entries.clear()
            self._entries[record.code] = (time.monotonic(), record)

    def touched(self, record: _TerminalRecord, last_seen_at: datetime) -> None:
        """Keep the cached ``last_seen_at`` in step with the write just made (same age)."""
        with self._lock:
            found = self._entries.get(record.code)
            if found is not None and found[1] is record:
                self._entries[record.code] = (found[0], replace(record, last_seen_at=last_seen_at))

    def drop(self, code: str) -> None:
        with self._lock:
            self._entries.pop(code, None)


_TERMINAL_CACHE_MAX = 100_000
# How long a request whose use case re-checks the terminal in its own transaction
# (:func:`stale_terminal_problem`; ``require_terminal(defer_nonce=True)``) may use a cached
# record: only what never changes (id, code, kind, city, owner) is taken from it unchecked.
REVALIDATED_CACHE_S = 600.0


def terminal_cache() -> TerminalCache:
    """This app's :class:`TerminalCache` (made when first needed)."""
    cache = current_app.extensions.get("ssc.terminal_cache")
    if cache is None:
        cache = current_app.extensions.setdefault("ssc.terminal_cache", TerminalCache())
    return cache


def online_cache_ttl() -> float:
    """``SSC_TERMINAL_CACHE_S``: how long a process trusts its copy of terminal records,
    placements and the fare data version (0 outside an app context)."""
    try:
        return float(current_app.config.get("SSC_TERMINAL_CACHE_S", 0.0))
    except RuntimeError:
        return 0.0


def stale_terminal_problem(
    terminal: Terminal, status: str | None, secret_rotated_at: datetime | None
) -> str | None:
    """The refusal for a request authenticated with a cached record, given the terminal's
    ``status`` and ``secret_rotated_at`` as its row has them now (read in the request's own
    transaction), or None when the record is current. A changed secret version means the request
    was signed with the old secret (a request signed with the new one makes
    :func:`authenticate_request` read the row). Drops the cached record when it is stale."""
    if status is None:
        problem: str | None = "terminal.unknown"
    elif status != TerminalStatus.ACTIVE:
        problem = "terminal.disabled"
    elif secret_rotated_at != terminal.secret_rotated_at:
        problem = "terminal.bad_signature"
    else:
        return None
    _forget(terminal)
    return problem


def check_terminal_current(session: Session, terminal: Terminal) -> None:
    """Re-read the terminal's status and secret version in the caller's transaction; raise the
    refusal when the record the request was authenticated with is stale (see
    :func:`stale_terminal_problem`)."""
    row = session.execute(
        select(Terminal.status, Terminal.secret_rotated_at).where(Terminal.id == terminal.id)
    ).first()
    problem = stale_terminal_problem(
        terminal, row.status if row else None, row.secret_rotated_at if row else None
    )
    if problem is not None:
        raise DomainError(problem)


def _forget(terminal: Terminal) -> None:
    """Drop this process's cached copy of a terminal that was just changed."""
    with contextlib.suppress(RuntimeError):  # outside an app context: there is no cache
        terminal_cache().drop(terminal.code)


def _load_record(session: Session, code: str) -> _TerminalRecord | None:
    row = session.execute(select(*_RECORD_COLUMNS).where(Terminal.code == code)).first()
    if row is None:
        return None
    values = row._asdict()
    values["secret"] = cipher().decrypt(SECRET_FIELD, values.pop("secret_enc"))
    return _TerminalRecord(**values)


def claim_nonce(session: Session, terminal_id: int, nonce: str, now: datetime) -> None:
    """Record a request nonce whose claim was deferred (``require_terminal(defer_nonce=True)``);
    raises ``terminal.nonce_reused`` when the terminal used it before."""
    if not _insert_nonce(session, terminal_id, nonce, now):
        raise DomainError("terminal.nonce_reused")


def _insert_nonce(session: Session, terminal_id: int, nonce: str, now: datetime) -> bool:
    """Record a request nonce; False when the terminal used it before. ``ON CONFLICT DO NOTHING``
    waits for a concurrent insert of the same pair and skips the row if that one commits, so of
    concurrent copies exactly one passes (as a unique-violation would, without a savepoint)."""
    statement = _nonce_insert(session.get_bind().dialect.name)
    params = {"terminal_id": terminal_id, "nonce": nonce, "now": now}
    return session.execute(statement, params).first() is not None


@functools.cache
def _nonce_insert(dialect: str) -> Any:
    """The nonce ``INSERT … ON CONFLICT DO NOTHING RETURNING id``, built once per dialect."""
    table = TerminalNonce.__table__
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return (
        insert(table)
        .values(
            terminal_id=bindparam("terminal_id", type_=table.c.terminal_id.type),
            nonce=bindparam("nonce", type_=table.c.nonce.type),
            created_at=bindparam("now", type_=table.c.created_at.type),
        )
        .on_conflict_do_nothing(index_elements=[table.c.terminal_id, table.c.nonce])
        .returning(table.c.id)
    )


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
    record_nonce: bool = True,
    revalidated: bool = False,
) -> Terminal:
    """Check a signed terminal request and record its nonce in the caller's transaction.
    ``record_nonce=False``: the caller records it later, in the same transaction, before it
    writes anything else (:func:`claim_nonce`, or in its own first statement).

    Order: headers → terminal known → signature → terminal active → timestamp fresh → scenes →
    nonce unused. The signature is checked before the status, so only the secret's holder learns
    that a terminal is disabled. Nothing is written for a refused request; the nonce row commits
    with the request's use case (so of concurrent copies of one request, exactly one passes).

    The terminal comes from :class:`TerminalCache` when ``SSC_TERMINAL_CACHE_S`` > 0 (returned as
    a transient :class:`Terminal`: read it, do not change it); otherwise it is read here.
    ``revalidated``: the caller re-checks the terminal's status and secret version in its own
    transaction (:func:`stale_terminal_problem`), so a cached record serves it for up to
    :data:`REVALIDATED_CACHE_S`."""
    bad_header = header_problem(dict(headers))
    if bad_header is not None:
        raise DomainError("terminal.unauthenticated", f"{bad_header} missing or malformed")
    code = str(headers[HEADER_TERMINAL])
    timestamp = str(headers[HEADER_TIMESTAMP])
    nonce = str(headers[HEADER_NONCE])
    if not valid_code(code):
        raise DomainError("terminal.unknown")

    def matches(secret: str) -> bool:
        return signature_matches(
            secret,
            str(headers[HEADER_SIGNATURE]),
            method=method,
            path=path,
            query=query,
            timestamp=timestamp,
            nonce=nonce,
            body=body,
        )

    ttl = online_cache_ttl()
    if ttl <= 0:  # no cache: the row itself
        terminal = session.execute(
            select(Terminal).where(Terminal.code == code)
        ).scalar_one_or_none()
        if terminal is None:
            raise DomainError("terminal.unknown")
        if not matches(cipher().decrypt(SECRET_FIELD, terminal.secret_enc)):
            raise DomainError("terminal.bad_signature")
        _check_usable(terminal.status, terminal.kind, timestamp, now, clock_skew_s, scenes)
        if record_nonce and not _insert_nonce(session, terminal.id, nonce, now):
            raise DomainError("terminal.nonce_reused")
        if should_touch_last_seen(terminal.last_seen_at, now):
            terminal.last_seen_at = now
        return terminal

    cache = terminal_cache()
    record = cache.get(code, max(ttl, REVALIDATED_CACHE_S) if revalidated else ttl)
    if record is None or not matches(record.secret):
        # Not cached, or the cached secret may be an old one: read the row.
        record = _load_record(session, code)
        if record is None:
            cache.drop(code)
            raise DomainError("terminal.unknown")
        cache.put(record, ttl)
        if not matches(record.secret):
            raise DomainError("terminal.bad_signature")
    _check_usable(record.status, record.kind, timestamp, now, clock_skew_s, scenes)
    if record_nonce and not _insert_nonce(session, record.id, nonce, now):
        raise DomainError("terminal.nonce_reused")
    if should_touch_last_seen(record.last_seen_at, now):
        session.execute(update(Terminal).where(Terminal.id == record.id).values(last_seen_at=now))
        cache.touched(record, now)
        record = replace(record, last_seen_at=now)
    return record.as_terminal()


def _check_usable(
    status: str,
    kind: str,
    timestamp: str,
    now: datetime,
    clock_skew_s: int,
    scenes: Collection[Scene] | None,
) -> None:
    """After the signature: active → timestamp fresh → scenes."""
    if status != TerminalStatus.ACTIVE:
        raise DomainError("terminal.disabled")
    if not timestamp_fresh(timestamp, now, clock_skew_s):
        raise DomainError("terminal.stale_timestamp")
    if scenes is not None and not serves_any(kind, scenes):
        raise DomainError("terminal.scene_not_allowed")


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
