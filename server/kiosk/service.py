"""Kiosk use cases: card challenges and card taps, self-service activation, help requests.

Services take ``now`` and commit at the end of a use case. Two refusals are committed before they
are raised, because what they record must outlive the refusal: a presented challenge is used up
(even when the card's answer is then wrong), and a wrong identity try counts towards the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.clock import local_date
from server.errors import DomainError
from server.kiosk.models import ActivationSession, CardChallenge, HelpRequest
from server.kiosk.rules import (
    CLOSED_HELP_STATUSES,
    HelpStatus,
    HelpTopic,
    activation_problem,
    handle_hash,
    identity_matches,
    new_handle,
    ticket_label,
    tries_left,
)
from server.registry import chip
from server.registry import service as registry
from server.registry.models import Card, Person
from server.registry.rules import CardState
from server.security import audit
from server.security.auth import ensure_scope
from server.security.models import StaffUser
from server.security.rules import Actor
from server.terminals.models import Terminal
from server.terminals.rules import TerminalKind
from server.terminals.service import terminal_actor


def _cfg(name: str) -> int:
    return int(current_app.config[name])


# --- card challenges and card taps ---------------------------------------------------------------


@dataclass(frozen=True)
class IssuedChallenge:
    challenge_id: str
    challenge: bytes
    expires_at: datetime


@dataclass(frozen=True)
class CardTap:
    """A card's answer to a server-issued challenge, as a terminal sends it."""

    challenge_id: str
    serial: str
    counter: int
    mac: bytes


def issue_challenge(session: Session, terminal: Terminal, now: datetime) -> IssuedChallenge:
    """A fresh 8-byte challenge for the next card tap at ``terminal`` (single use, short-lived)."""
    handle = new_handle()
    challenge = chip.new_challenge()
    expires_at = now + timedelta(seconds=_cfg("SSC_CARD_CHALLENGE_TTL_S"))
    session.add(
        CardChallenge(
            handle_hash=handle_hash(handle),
            terminal_id=terminal.id,
            challenge=challenge,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.commit()
    return IssuedChallenge(handle, challenge, expires_at)


def consume_challenge(
    session: Session, terminal_id: int, challenge_id: str, now: datetime
) -> bytes:
    """Use up the challenge and return its bytes; the use is committed at once, so it stands even
    when the card's answer is refused afterwards. Of concurrent uses exactly one succeeds (a
    conditional UPDATE). Another terminal's challenge is ``chip.challenge_unknown``."""
    row = session.execute(
        select(CardChallenge).where(CardChallenge.handle_hash == handle_hash(challenge_id))
    ).scalar_one_or_none()
    if row is None or row.terminal_id != terminal_id:
        raise DomainError("chip.challenge_unknown")
    if row.used_at is not None:
        raise DomainError("chip.challenge_used")
    if now >= row.expires_at:
        raise DomainError("chip.challenge_expired")
    result = session.execute(
        update(CardChallenge)
        .where(CardChallenge.id == row.id, CardChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise DomainError("chip.challenge_used")
    challenge = bytes(row.challenge)
    session.commit()
    return challenge


def authenticate_tap(
    session: Session,
    terminal: Terminal,
    tap: CardTap,
    now: datetime,
    *,
    require_active: bool = True,
) -> Card:
    """A card tap on a server-issued challenge: the challenge is used up (committed), then the
    card's MAC and counter are checked and the counter stored in the caller's transaction. Returns
    the card, locked. Refusals: ``chip.*``, ``card.not_active``."""
    challenge = consume_challenge(session, terminal.id, tap.challenge_id, now)
    return chip.authenticate_card_tap(
        session,
        serial=tap.serial,
        challenge=challenge,
        counter=tap.counter,
        mac=tap.mac,
        now=now,
        require_active=require_active,
    )


def purge_challenges(session: Session, now: datetime, keep: timedelta = timedelta(days=1)) -> int:
    """Forget challenges that expired more than ``keep`` ago."""
    from sqlalchemy import delete

    result = session.execute(delete(CardChallenge).where(CardChallenge.expires_at < now - keep))
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- self-service activation ---------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationStarted:
    activation_id: str
    card: Card
    person: Person
    expires_at: datetime
    tries_left: int


def _require_kiosk(terminal: Terminal) -> None:
    if terminal.kind != TerminalKind.KIOSK:
        raise DomainError("terminal.scene_not_allowed", scene="kiosk")


def _max_tries() -> int:
    return _cfg("SSC_PIN_MAX_TRIES")


def _activatable(card: Card) -> None:
    state = CardState(card.state)
    if state is CardState.ACTIVE:
        raise DomainError("activation.already_active")
    if state is not CardState.ISSUED:
        raise DomainError("card.not_active", state=str(state))
    if card.pin_locked_at is not None:
        raise DomainError("card.pin_locked")


def start_activation(
    session: Session, terminal: Terminal, tap: CardTap, now: datetime
) -> ActivationStarted:
    """Tap an ``issued`` card at a kiosk to activate it; returns the opaque activation id."""
    _require_kiosk(terminal)
    card = authenticate_tap(session, terminal, tap, now, require_active=False)
    _activatable(card)
    handle = new_handle()
    expires_at = now + timedelta(seconds=_cfg("SSC_KIOSK_ACTIVATION_TTL_S"))
    activation = ActivationSession(
        handle_hash=handle_hash(handle),
        terminal_id=terminal.id,
        card_id=card.id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(activation)
    session.flush()
    audit.record(
        session,
        terminal_actor(terminal),
        "activation.started",
        object_type="card",
        object_id=card.id,
        city_code=card.issuing_city,
        now=now,
        activation_session_id=activation.id,
    )
    session.commit()
    person = session.get(Person, card.person_id)
    return ActivationStarted(
        handle, card, person, expires_at, tries_left(_max_tries(), card.pin_failed_tries)
    )


def _load_activation(
    session: Session, terminal: Terminal, activation_id: str, now: datetime
) -> ActivationSession:
    activation = session.execute(
        select(ActivationSession).where(
            ActivationSession.handle_hash == handle_hash(activation_id),
            ActivationSession.terminal_id == terminal.id,
        )
    ).scalar_one_or_none()
    if activation is None:
        raise DomainError("activation.unknown")
    problem = activation_problem(
        expires_at=activation.expires_at, finished_at=activation.finished_at, now=now
    )
    if problem is not None:
        raise DomainError(problem)
    return activation


def _lock_card_and_activation(
    session: Session, activation: ActivationSession, now: datetime
) -> Card:
    """Lock the card row (every try on one card, from any session, queues here), then re-read the
    activation inside the lock."""
    card = session.execute(
        select(Card).where(Card.id == activation.card_id).with_for_update()
    ).scalar_one()
    session.refresh(activation, with_for_update=True)
    problem = activation_problem(
        expires_at=activation.expires_at, finished_at=activation.finished_at, now=now
    )
    if problem is not None:
        raise DomainError(problem)
    return card


def confirm_identity(
    session: Session, terminal: Terminal, activation_id: str, id_last6: str, now: datetime
) -> None:
    """Check the last 6 characters of the holder's ID number. A wrong try is counted on the card
    (``pin_failed_tries``) and committed before the refusal; the last allowed try locks the card
    (``card.pin_locked``) until staff activate it at the counter."""
    activation = _load_activation(session, terminal, activation_id, now)
    card = _lock_card_and_activation(session, activation, now)
    _activatable(card)
    person = session.get(Person, card.person_id)
    actor = terminal_actor(terminal)
    if identity_matches(registry.decrypt_id_number(person), id_last6):
        activation.identity_ok_at = now
        audit.record(
            session,
            actor,
            "activation.identity_confirmed",
            object_type="card",
            object_id=card.id,
            city_code=card.issuing_city,
            now=now,
        )
        session.commit()
        return
    max_tries = _max_tries()
    card.pin_failed_tries += 1
    locked = card.pin_failed_tries >= max_tries
    if locked:
        card.pin_locked_at = now
        activation.finished_at = now
        activation.outcome = "locked"
    audit.record(
        session,
        actor,
        "activation.identity_failed",
        object_type="card",
        object_id=card.id,
        city_code=card.issuing_city,
        now=now,
        tries=card.pin_failed_tries,
        locked=locked,
    )
    session.commit()
    if locked:
        raise DomainError("card.pin_locked")
    raise DomainError(
        "activation.identity_mismatch", tries_left=tries_left(max_tries, card.pin_failed_tries)
    )


def set_pin(
    session: Session,
    terminal: Terminal,
    activation_id: str,
    pin: str,
    pin_confirm: str,
    now: datetime,
) -> tuple[Card, Person]:
    """The last step: the holder's new PIN, typed twice. Activates the card (as staff activation
    does: PIN rules, card event, ledger account) and ends the session."""
    activation = _load_activation(session, terminal, activation_id, now)
    if activation.identity_ok_at is None:
        raise DomainError("activation.identity_required")
    if pin != pin_confirm:
        raise DomainError("activation.pin_mismatch")
    card = _lock_card_and_activation(session, activation, now)
    _activatable(card)
    registry.activate_locked_card(
        session, terminal_actor(terminal), card, pin, now, reason="kiosk self-service"
    )
    activation.finished_at = now
    activation.outcome = "activated"
    session.commit()
    return card, session.get(Person, card.person_id)


# --- help requests -------------------------------------------------------------------------------


def create_help_request(
    session: Session, terminal: Terminal, *, topic: str, note: str | None, now: datetime
) -> HelpRequest:
    """Call staff from a terminal. The ticket number counts per terminal and Shanghai day; the
    terminal row is locked while it is allocated."""
    topic = str(HelpTopic(topic))
    session.execute(select(Terminal.id).where(Terminal.id == terminal.id).with_for_update())
    day = local_date(now)
    last = session.execute(
        select(func.max(HelpRequest.ticket_seq)).where(
            HelpRequest.terminal_id == terminal.id, HelpRequest.ticket_day == day
        )
    ).scalar_one()
    seq = (last or 0) + 1
    request = HelpRequest(
        terminal_id=terminal.id,
        city_code=terminal.city_code,
        ticket_day=day,
        ticket_seq=seq,
        ticket=ticket_label(seq),
        topic=topic,
        note=note or None,
        status=str(HelpStatus.OPEN),
        created_at=now,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        terminal_actor(terminal),
        "help.requested",
        object_type="help_request",
        object_id=request.id,
        city_code=terminal.city_code,
        now=now,
        topic=topic,
        ticket=request.ticket,
    )
    session.commit()
    return request


def help_request_for_terminal(session: Session, terminal: Terminal, request_id: int) -> HelpRequest:
    request = session.get(HelpRequest, request_id)
    if request is None or request.terminal_id != terminal.id:
        raise DomainError("help.not_found")
    return request


def cancel_help_request(
    session: Session, terminal: Terminal, request_id: int, now: datetime
) -> HelpRequest:
    """The terminal that called staff takes the call back (the person found help elsewhere, or
    walked away) while nobody has claimed it yet. A cancel and a claim at once: exactly one wins
    (a conditional UPDATE). Cancelling again answers the cancelled request (a retry is safe);
    claimed → ``help.already_claimed``; resolved → ``help.closed``."""
    request = help_request_for_terminal(session, terminal, request_id)
    result = session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request.id, HelpRequest.status == HelpStatus.OPEN)
        .values(status=str(HelpStatus.CANCELLED), cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        current = help_request_for_terminal(session, terminal, request_id)
        if current.status == HelpStatus.CANCELLED:
            return current
        if current.status == HelpStatus.CLAIMED:
            raise DomainError("help.already_claimed")
        raise DomainError("help.closed")
    audit.record(
        session,
        terminal_actor(terminal),
        "help.cancelled",
        object_type="help_request",
        object_id=request.id,
        city_code=request.city_code,
        now=now,
        ticket=request.ticket,
    )
    session.commit()
    session.refresh(request)
    return request


def list_help_requests(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[HelpRequest]:
    """Help requests in the actor's city (all cities for province-wide actors), oldest first."""
    query = select(HelpRequest).where(HelpRequest.id > after_id)
    if actor.city_code is not None:
        query = query.where(HelpRequest.city_code == actor.city_code)
    if status is not None:
        query = query.where(HelpRequest.status == status)
    return list(session.execute(query.order_by(HelpRequest.id).limit(limit)).scalars())


def _help_in_scope(session: Session, actor: Actor, request_id: int, *, lock: bool) -> HelpRequest:
    query = select(HelpRequest).where(HelpRequest.id == request_id)
    if lock:
        query = query.with_for_update()
    request = session.execute(query).scalar_one_or_none()
    if request is None:
        raise DomainError("help.not_found")
    ensure_scope(actor, request.city_code)
    return request


def claim_help_request(
    session: Session, actor: Actor, request_id: int, now: datetime
) -> HelpRequest:
    """A staff member takes an open request. Of two claims at once exactly one wins (a conditional
    UPDATE); the other gets ``help.already_claimed``."""
    request = _help_in_scope(session, actor, request_id, lock=False)
    result = session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request.id, HelpRequest.status == HelpStatus.OPEN)
        .values(status=str(HelpStatus.CLAIMED), claimed_by=actor.id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        current = _help_in_scope(session, actor, request_id, lock=False)
        if HelpStatus(current.status) in CLOSED_HELP_STATUSES:
            raise DomainError("help.closed")
        raise DomainError("help.already_claimed")
    audit.record(
        session,
        actor,
        "help.claimed",
        object_type="help_request",
        object_id=request.id,
        city_code=request.city_code,
        now=now,
    )
    session.commit()
    session.refresh(request)
    return request


def resolve_help_request(
    session: Session, actor: Actor, request_id: int, outcome: str, now: datetime
) -> HelpRequest:
    """Close a request with what was done. Open or claimed requests only."""
    request = _help_in_scope(session, actor, request_id, lock=True)
    if HelpStatus(request.status) in CLOSED_HELP_STATUSES:
        raise DomainError("help.closed")
    if request.claimed_by is None:
        request.claimed_by = actor.id
        request.claimed_at = now
    request.status = str(HelpStatus.RESOLVED)
    request.resolved_by = actor.id
    request.resolved_at = now
    request.outcome = outcome
    audit.record(
        session,
        actor,
        "help.resolved",
        object_type="help_request",
        object_id=request.id,
        city_code=request.city_code,
        now=now,
    )
    session.commit()
    return request


def staff_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(ids))
    ).all()
    return {row.id: row.display_name for row in rows}
