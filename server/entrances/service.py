"""Entrance use cases: the registry of entrances and their terminals (staff), and entry decisions
(terminals). Services take ``now`` and commit at the end of a use case.

Entry checks: later areas (venue bookings, library readers) add their own checks for a kind of
entrance with :func:`register_entry_check` from ``create_app``; a check raises ``DomainError`` to
deny. Every decision, allowed or denied, is recorded (``entry_record``) with its code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final

from flask import Flask, current_app
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.clock import SHANGHAI
from server.credentials import service as credentials
from server.credentials.verifier import Refused
from server.entrances.models import Entrance, EntranceTerminal, EntryRecord
from server.entrances.rules import (
    KIND_SCENE,
    EntranceKind,
    EntranceStatus,
    InvalidHours,
    OpeningHours,
    days_between,
    greeting,
    hours_from_json,
    hours_text,
    is_open,
    local_day_bounds,
    next_opening,
    status_reason_problems,
    summary_range_problems,
)
from server.errors import DomainError
from server.kiosk import service as kiosk
from server.registry import chip
from server.registry.models import Card, Person
from server.registry.rules import CITY_BY_CODE, CardState
from server.security import audit
from server.security.auth import ensure_scope
from server.security.pii import mask_name
from server.security.rules import Actor, has_permission
from server.terminals.models import Terminal
from server.terminals.rules import scene_allowed, valid_code
from server.terminals.service import terminal_actor

# --- entry checks (hooks by entrance kind) -------------------------------------------------------


@dataclass(frozen=True)
class EntryContext:
    """What an entry check sees: the entrance, the terminal, the card (locked) and its holder."""

    entrance: Entrance
    terminal: Terminal
    card: Card
    person: Person
    medium: str  # card | qr
    now: datetime


EntryCheck = Callable[[Session, EntryContext], None]
_CHECKS = "ssc.entry_checks"


def init_app(app: Flask) -> None:
    """An empty check registry for this app (``create_app`` calls this)."""
    app.extensions[_CHECKS] = {str(kind): [] for kind in EntranceKind}


def register_entry_check(app: Flask, kind: str, check: EntryCheck) -> None:
    """Run ``check`` for every entry at entrances of ``kind``, after the card and the opening hours
    passed. It raises ``DomainError`` to deny (the code is recorded and returned)."""
    app.extensions[_CHECKS][str(EntranceKind(kind))].append(check)


def entry_checks(kind: str) -> list[EntryCheck]:
    return list(current_app.extensions.get(_CHECKS, {}).get(kind, ()))


# --- staff: entrances ----------------------------------------------------------------------------


def _hours(data: dict) -> OpeningHours:
    try:
        return hours_from_json(data)
    except InvalidHours as exc:
        raise DomainError(
            "request.validation_failed",
            errors=[{"field": f"body.opening_hours.{exc.field}", "code": "invalid"}],
        ) from None


def create_entrance(
    session: Session,
    actor: Actor,
    *,
    code: str,
    kind: str,
    name_zh: str,
    name_en: str,
    city_code: str,
    opening_hours: dict,
    now: datetime,
) -> Entrance:
    if not valid_code(code):
        raise DomainError(
            "request.validation_failed", errors=[{"field": "body.code", "code": "invalid"}]
        )
    if city_code not in CITY_BY_CODE:
        raise DomainError("city.unknown", city_code=city_code)
    ensure_scope(actor, city_code)
    hours = _hours(opening_hours)
    if session.execute(select(Entrance.id).where(Entrance.code == code)).first():
        raise DomainError("entrance.code_taken")
    entrance = Entrance(
        code=code,
        kind=str(EntranceKind(kind)),
        name_zh=name_zh,
        name_en=name_en,
        city_code=city_code,
        opening_hours=hours_text(hours),
        status=str(EntranceStatus.OPEN),
        created_at=now,
        created_by=actor.id,
    )
    session.add(entrance)
    try:
        session.flush()
    except IntegrityError:  # the same code registered concurrently
        session.rollback()
        raise DomainError("entrance.code_taken") from None
    audit.record(
        session,
        actor,
        "entrance.created",
        object_type="entrance",
        object_id=entrance.id,
        city_code=city_code,
        now=now,
        code=code,
        kind=entrance.kind,
    )
    session.commit()
    return entrance


def list_entrances(
    session: Session, actor: Actor, *, city_code: str | None = None, kind: str | None = None
) -> list[Entrance]:
    query = select(Entrance)
    if actor.city_code is not None:
        query = query.where(Entrance.city_code == actor.city_code)
    if city_code is not None:
        query = query.where(Entrance.city_code == city_code)
    if kind is not None:
        query = query.where(Entrance.kind == kind)
    return list(session.execute(query.order_by(Entrance.code)).scalars())


def attach_terminal(
    session: Session, actor: Actor, entrance_id: int, terminal_code: str, now: datetime
) -> Entrance:
    """Put a terminal at an entrance (repeating it changes nothing)."""
    entrance = session.get(Entrance, entrance_id, with_for_update=True)
    if entrance is None:
        raise DomainError("entrance.not_found")
    ensure_scope(actor, entrance.city_code)
    terminal = session.execute(
        select(Terminal).where(Terminal.code == terminal_code)
    ).scalar_one_or_none()
    if terminal is None:
        raise DomainError("terminal.not_found")
    ensure_scope(actor, terminal.city_code)
    linked = session.execute(
        select(EntranceTerminal.id).where(
            EntranceTerminal.entrance_id == entrance.id,
            EntranceTerminal.terminal_id == terminal.id,
        )
    ).first()
    if linked is None:
        session.add(
            EntranceTerminal(
                entrance_id=entrance.id,
                terminal_id=terminal.id,
                attached_at=now,
                attached_by=actor.id,
            )
        )
        audit.record(
            session,
            actor,
            "entrance.terminal_attached",
            object_type="entrance",
            object_id=entrance.id,
            city_code=entrance.city_code,
            now=now,
            terminal=terminal.code,
        )
    session.commit()
    return entrance


def _locked_entrance(session: Session, actor: Actor, entrance_id: int) -> Entrance:
    entrance = session.get(Entrance, entrance_id, with_for_update=True)
    if entrance is None:
        raise DomainError("entrance.not_found")
    ensure_scope(actor, entrance.city_code)
    return entrance


def update_entrance(
    session: Session, actor: Actor, entrance_id: int, changes: dict, now: datetime
) -> Entrance:
    """Change names, opening hours or status. ``changes`` holds only the fields given:
    ``name_zh``, ``name_en``, ``opening_hours`` (the API document), ``status`` and ``reason``.
    Suspending (closed for works …) needs a reason, which the gate shows; reopening clears it.
    Audited with the names of the fields that changed (and the status and reason)."""
    if not changes:
        raise DomainError("request.validation_failed", errors=[{"field": "body", "code": "empty"}])
    entrance = _locked_entrance(session, actor, entrance_id)
    changed: list[str] = []
    for name in ("name_zh", "name_en"):
        if name in changes and changes[name] != getattr(entrance, name):
            setattr(entrance, name, changes[name])
            changed.append(name)
    if "opening_hours" in changes:
        text = hours_text(_hours(changes["opening_hours"]))
        if text != entrance.opening_hours:
            entrance.opening_hours = text
            changed.append("opening_hours")
    reason: str | None = None
    if "status" in changes or "reason" in changes:
        status = str(EntranceStatus(changes.get("status") or entrance.status))
        reason = changes.get("reason") or None
        if reason is None and status == entrance.status:
            reason = entrance.status_reason  # the same status again keeps its reason
        problems = status_reason_problems(status, reason)
        if problems:
            raise DomainError(
                "request.validation_failed",
                errors=[{"field": "body.reason", "code": code} for code in problems],
            )
        if status != entrance.status:
            entrance.status = status
            entrance.status_changed_at = now
            changed.append("status")
        kept = reason if status == EntranceStatus.SUSPENDED else None
        if kept != entrance.status_reason:
            entrance.status_reason = kept
            changed.append("status_reason")
    if changed:
        entrance.updated_at = now
        details: dict = {"fields": changed}
        if "status" in changed or "status_reason" in changed:
            details.update(status=entrance.status, reason=reason)
        audit.record(
            session,
            actor,
            "entrance.updated",
            object_type="entrance",
            object_id=entrance.id,
            city_code=entrance.city_code,
            now=now,
            **details,
        )
    session.commit()
    return entrance


def detach_terminal(
    session: Session, actor: Actor, entrance_id: int, terminal_id: int, now: datetime
) -> Entrance:
    """Take a terminal away from an entrance (moved, broken, retired). Its entries there are then
    refused with ``entry.terminal_not_at_entrance``; the entry records stay."""
    entrance = _locked_entrance(session, actor, entrance_id)
    terminal = session.get(Terminal, terminal_id)
    removed = session.execute(
        delete(EntranceTerminal).where(
            EntranceTerminal.entrance_id == entrance.id,
            EntranceTerminal.terminal_id == terminal_id,
        )
    )
    if terminal is None or removed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise DomainError("entrance.terminal_not_attached")
    audit.record(
        session,
        actor,
        "entrance.terminal_detached",
        object_type="entrance",
        object_id=entrance.id,
        city_code=entrance.city_code,
        now=now,
        terminal=terminal.code,
    )
    session.commit()
    return entrance


def attached_terminals(session: Session, entrance_ids: list[int]) -> dict[int, list[Terminal]]:
    """The terminals at each entrance, by code."""
    out: dict[int, list[Terminal]] = {i: [] for i in entrance_ids}
    if not entrance_ids:
        return out
    rows = session.execute(
        select(EntranceTerminal.entrance_id, Terminal)
        .join(Terminal, Terminal.id == EntranceTerminal.terminal_id)
        .where(EntranceTerminal.entrance_id.in_(entrance_ids))
        .order_by(Terminal.code)
    ).all()
    for entrance_id, terminal in rows:
        out[entrance_id].append(terminal)
    return out


# --- staff: entry records and the daily summary ------------------------------------------------


def _entrance_in_scope(session: Session, actor: Actor, entrance_id: int) -> Entrance:
    entrance = session.get(Entrance, entrance_id)
    if entrance is None:
        raise DomainError("entrance.not_found")
    ensure_scope(actor, entrance.city_code)
    return entrance


@dataclass(frozen=True)
class EntryLine:
    """One entry decision as staff see it: no ID numbers; the holder's masked name only for staff
    who may read persons (``person.read``)."""

    id: int
    at: datetime
    decision: str
    code: str | None
    medium: str
    terminal_code: str
    holder_masked_name: str | None


def list_entries(
    session: Session,
    actor: Actor,
    entrance_id: int,
    *,
    day: date,
    decision: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[Entrance, list[EntryLine], bool]:
    """The entry decisions at an entrance on one Asia/Shanghai day, in time order; the page and
    whether another follows."""
    entrance = _entrance_in_scope(session, actor, entrance_id)
    start, end = local_day_bounds(day, SHANGHAI)
    with_holder = has_permission(actor, "person.read")
    columns = [EntryRecord, Terminal.code]
    if with_holder:
        columns.append(Person.name)
    query = (
        select(*columns)
        .join(Terminal, Terminal.id == EntryRecord.terminal_id)
        .where(
            EntryRecord.entrance_id == entrance.id,
            EntryRecord.at >= start,
            EntryRecord.at < end,
        )
    )
    if with_holder:
        query = query.outerjoin(Card, Card.id == EntryRecord.card_id).outerjoin(
            Person, Person.id == Card.person_id
        )
    if decision is not None:
        query = query.where(EntryRecord.decision == decision)
    query = query.order_by(EntryRecord.at, EntryRecord.id)
    rows = session.execute(query.offset((page - 1) * per_page).limit(per_page + 1)).all()
    lines = [
        EntryLine(
            id=row[0].id,
            at=row[0].at,
            decision=row[0].decision,
            code=row[0].code,
            medium=row[0].medium,
            terminal_code=row[1],
            holder_masked_name=mask_name(row[2]) if with_holder and row[2] else None,
        )
        for row in rows[:per_page]
    ]
    return entrance, lines, len(rows) > per_page


@dataclass
class DaySummary:
    day: date
    allowed: int = 0
    denied: int = 0
    denied_by_code: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EntriesSummary:
    entrance: Entrance
    days: list[DaySummary]
    total: DaySummary  # the whole range (its ``day`` is the first)


def _sum_days(first: date, days: list[DaySummary]) -> DaySummary:
    total = DaySummary(first)
    for day in days:
        total.allowed += day.allowed
        total.denied += day.denied
        for code, n in day.denied_by_code.items():
            total.denied_by_code[code] = total.denied_by_code.get(code, 0) + n
    total.denied_by_code = dict(sorted(total.denied_by_code.items()))
    return total


def entries_summary(
    session: Session, actor: Actor, entrance_id: int, *, first: date, last: date
) -> EntriesSummary:
    """Allowed and denied entries per Asia/Shanghai day from ``first`` to ``last`` (both
    included; every day listed, zeros too), denials counted by code: the monthly pilot report."""
    problems = summary_range_problems(first, last)
    if problems:
        raise DomainError(
            "request.validation_failed",
            errors=[{"field": "query.to", "code": code} for code in problems],
        )
    entrance = _entrance_in_scope(session, actor, entrance_id)
    days = []
    for day in days_between(first, last):  # one indexed range query per day: portable, cheap
        start, end = local_day_bounds(day, SHANGHAI)
        summary = DaySummary(day)
        rows = session.execute(
            select(EntryRecord.decision, EntryRecord.code, func.count())
            .where(
                EntryRecord.entrance_id == entrance.id,
                EntryRecord.at >= start,
                EntryRecord.at < end,
            )
            .group_by(EntryRecord.decision, EntryRecord.code)
        ).all()
        for decision, code, n in rows:
            if decision == "allowed":
                summary.allowed += n
            else:
                summary.denied += n
                key = code or "unknown"
                summary.denied_by_code[key] = summary.denied_by_code.get(key, 0) + n
        summary.denied_by_code = dict(sorted(summary.denied_by_code.items()))
        days.append(summary)
    return EntriesSummary(entrance, days, _sum_days(first, days))


# --- terminals: entry decisions ------------------------------------------------------------------


@dataclass(frozen=True)
class EntryDecision:
    entry_id: int
    entrance: Entrance
    masked_name: str
    greeting_zh: str
    greeting_en: str
    at: datetime


def _card_by_qr(
    session: Session,
    terminal: Terminal,
    entrance: Entrance,
    text: str,
    now: datetime,
    seen: dict[str, int],
):
    scene = KIND_SCENE[EntranceKind(entrance.kind)]
    if not scene_allowed(terminal.kind, scene):
        raise DomainError("terminal.scene_not_allowed", scene=scene.name.lower())
    verifier = credentials.verifier_cache().get(session, now)
    try:
        accepted = verifier.check_only(text, scene=scene, now=now)
    except Refused as exc:
        raise DomainError(f"credential.{exc.code}", reason=exc.reason) from None
    card_id = credentials.card_for_pseudonym(session, accepted.pseudonym)
    if card_id is None:
        raise DomainError("entry.no_card")
    card = session.execute(select(Card).where(Card.id == card_id).with_for_update()).scalar_one()
    seen["card_id"] = card.id  # a verified code: a refusal from here on is recorded against it
    if card.state != CardState.ACTIVE:
        raise DomainError("card.not_active", state=card.state)
    inserted = credentials.insert_use(
        session,
        {
            "serial": accepted.serial,
            "counter": accepted.counter,
            "kind": accepted.kind,
            "card_id": card.id,
            "terminal_id": terminal.id,
            "actor_label": f"terminal:{terminal.code}",
            "scene": scene.name.lower(),
            "generated_at": datetime.fromtimestamp(accepted.generated_at, UTC),
            "used_at": now,
        },
    )
    if not inserted:
        raise DomainError("credential.replayed")
    return card


def _record(
    session: Session,
    *,
    entrance_id: int | None,
    terminal_id: int,
    card_id: int | None,
    medium: str,
    code: str | None,
    now: datetime,
) -> EntryRecord:
    record = EntryRecord(
        entrance_id=entrance_id,
        terminal_id=terminal_id,
        card_id=card_id,
        medium=medium,
        decision="allowed" if code is None else "denied",
        code=code,
        at=now,
    )
    session.add(record)
    session.flush()
    return record


# Card-tap refusals raised only after the card's MAC checked out.
_GENUINE_CARD_REFUSALS: Final = frozenset({"card.not_active", "chip.counter_replayed"})


def decide_entry(
    session: Session,
    terminal: Terminal,
    *,
    entrance_code: str,
    tap: kiosk.CardTap | None = None,
    qr_text: str | None = None,
    now: datetime,
) -> EntryDecision:
    """Let a cardholder in, or not. Order: the tap's challenge used up → entrance known → this
    terminal stands there → open now → the card (MAC, counter) or code (QR) → card active → the
    entrance kind's checks. A denial rolls back
    the decision's own writes, records the denial with its code, commits, and raises."""
    if (tap is None) == (qr_text is None):
        raise ValueError("exactly one of tap and qr_text")
    medium = "card" if tap is not None else "qr"
    entrance_id: int | None = None
    card_id: int | None = None
    seen: dict[str, int] = {}
    try:
        challenge = None
        if tap is not None:  # used up first (committed): a replayed request finds it used
            challenge = kiosk.consume_challenge(session, terminal.id, tap.challenge_id, now)
        entrance = session.execute(
            select(Entrance).where(Entrance.code == entrance_code)
        ).scalar_one_or_none()
        if entrance is None:
            raise DomainError("entry.unknown_entrance")
        entrance_id = entrance.id
        attached = session.execute(
            select(EntranceTerminal.id).where(
                EntranceTerminal.entrance_id == entrance.id,
                EntranceTerminal.terminal_id == terminal.id,
            )
        ).first()
        if attached is None:
            raise DomainError("entry.terminal_not_at_entrance")
        local = now.astimezone(SHANGHAI)
        hours = hours_from_json(_loads(entrance.opening_hours))
        if entrance.status != EntranceStatus.OPEN:
            extra = {"reason": entrance.status_reason} if entrance.status_reason else {}
            raise DomainError("entry.closed", entrance_status=entrance.status, **extra)
        if not is_open(hours, local):
            opens = next_opening(hours, local)
            extra = {"opens_at": opens.isoformat()} if opens is not None else {}
            raise DomainError("entry.closed", **extra)
        if tap is not None and challenge is not None:
            card = chip.authenticate_card_tap(
                session,
                serial=tap.serial,
                challenge=challenge,
                counter=tap.counter,
                mac=tap.mac,
                now=now,
            )
        else:
            card = _card_by_qr(session, terminal, entrance, qr_text or "", now, seen)
        card_id = card.id
        person = session.get(Person, card.person_id)
        context = EntryContext(entrance, terminal, card, person, medium, now)
        for check in entry_checks(entrance.kind):
            check(session, context)
        record = _record(
            session,
            entrance_id=entrance.id,
            terminal_id=terminal.id,
            card_id=card.id,
            medium=medium,
            code=None,
            now=now,
        )
        masked = mask_name(person.name)
        greeting_zh, greeting_en = greeting(masked, entrance.kind, local)
        audit.record(
            session,
            terminal_actor(terminal),
            "entry.allowed",
            object_type="entrance",
            object_id=entrance.id,
            city_code=entrance.city_code,
            now=now,
            entry_id=record.id,
            medium=medium,
        )
        session.commit()
        return EntryDecision(record.id, entrance, masked, greeting_zh, greeting_en, now)
    except DomainError as exc:
        session.rollback()
        if card_id is None:
            card_id = seen.get("card_id")
        if card_id is None and tap is not None and exc.code in _GENUINE_CARD_REFUSALS:
            # The card's MAC was right (a clone holds the real key): the record names the card,
            # so staff can see which card was refused for its state or as a clone.
            card_id = session.execute(
                select(Card.id).where(Card.serial == tap.serial)
            ).scalar_one_or_none()
        _record(
            session,
            entrance_id=entrance_id,
            terminal_id=terminal.id,
            card_id=card_id,
            medium=medium,
            code=exc.code,
            now=now,
        )
        session.commit()
        raise


def _loads(text: str) -> dict:
    import json

    return json.loads(text)
