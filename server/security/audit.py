"""The audit log: append inside the caller's transaction, verify the whole chain.

Each event's hash is SHA-256 over the previous hash and a canonical JSON of the event. The head
row is locked for the append, so concurrent transactions append one after another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.security.models import AuditEvent, AuditHead
from server.security.rules import Actor

CHAIN = "main"
GENESIS = "0" * 64


def _canonical(event: AuditEvent) -> str:
    return json.dumps(
        {
            "seq": event.seq,
            "at": event.at.astimezone(UTC).isoformat(),
            "actor_kind": event.actor_kind,
            "actor_id": event.actor_id,
            "actor_label": event.actor_label,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "city_code": event.city_code,
            "request_id": event.request_id,
            "detail": event.detail,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + _canonical(event)).encode()).hexdigest()


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    object_type: str,
    object_id: Any,
    now: datetime,
    city_code: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Append an event (dotted action name, e.g. ``card.reported_lost``). Never pass personal data
    in ``detail``: ids, codes and reasons only."""
    head = session.execute(
        select(AuditHead).where(AuditHead.chain == CHAIN).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(chain=CHAIN, last_seq=0, last_hash=GENESIS)
        session.add(head)
    event = AuditEvent(
        seq=head.last_seq + 1,
        at=now,
        actor_kind=str(actor.kind) if actor else "system",
        actor_id=actor.id if actor else None,
        actor_label=actor.label if actor else "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        city_code=city_code,
        request_id=g.get("request_id") if has_request_context() else None,
        detail=json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str),
        prev_hash=head.last_hash,
    )
    event.hash = event_hash(head.last_hash, event)
    head.last_seq = event.seq
    head.last_hash = event.hash
    session.add(event)
    return event


def list_events(
    session: Session,
    actor: Actor,
    *,
    after_seq: int,
    limit: int,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> list[AuditEvent]:
    """Events after ``after_seq``; a city-scoped reader sees its own city's events only."""
    stmt = select(AuditEvent).where(AuditEvent.seq > after_seq)
    if actor.city_code is not None:
        stmt = stmt.where(AuditEvent.city_code == actor.city_code)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type is not None:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    return list(session.execute(stmt.order_by(AuditEvent.seq).limit(limit)).scalars())


@dataclass
class ChainReport:
    ok: bool
    events: int
    problems: list[dict[str, Any]]


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain in ``seq`` order; report edited, missing, re-linked rows and a bad head."""
    problems: list[dict[str, Any]] = []
    prev_hash, expected_seq, count = GENESIS, 1, 0
    last_seen = 0
    while True:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.seq > last_seen)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for event in rows:
            count += 1
            if event.seq != expected_seq:
                problems.append({"seq": expected_seq, "problem": "missing", "next_seq": event.seq})
            if event.prev_hash != prev_hash:
                problems.append({"seq": event.seq, "problem": "broken_link"})
            if event_hash(event.prev_hash, event) != event.hash:
                problems.append({"seq": event.seq, "problem": "edited"})
            prev_hash, expected_seq, last_seen = event.hash, event.seq + 1, event.seq
        session.expunge_all()
    head = session.get(AuditHead, CHAIN)
    if head is not None and (head.last_seq != last_seen or head.last_hash != prev_hash):
        problems.append({"seq": head.last_seq, "problem": "head_mismatch"})
    if head is None and count:
        problems.append({"seq": 0, "problem": "head_missing"})
    return ChainReport(ok=not problems, events=count, problems=problems)
