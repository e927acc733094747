"""Door-to-door issuance use cases: request, assign, visit, complete, cancel.

Each changing use case is one transaction: it locks the request, checks the rules inside the lock,
writes the change and its audit event, and commits. Refusals raise ``DomainError`` before anything
is written. Personal numbers (ID, phones, address, certificate) are stored only encrypted and never
go into audit details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.clock import local_date
from server.doorstep.models import DoorstepRequest, DoorstepVisit
from server.doorstep.rules import (
    OPEN_STATUSES,
    REQUESTER_CANCELLABLE,
    Action,
    Channel,
    InvalidTransition,
    Outcome,
    RequestedBy,
    Status,
    decode_reasons,
    eligibility,
    encode_reasons,
    may_act_on_visit,
    needs_illness_confirmation,
    next_status,
    note_problems,
    visit_action,
    visit_time_problems,
    window_problems,
)
from server.errors import DomainError
from server.registry.models import Card, Person
from server.registry.rules import (
    CITY_BY_CODE,
    CardState,
    InvalidIdNumber,
    normalise_phone,
    parse_id_number,
)
from server.registry.service import decrypt_id_number, decrypt_phone, id_number_index
from server.security import audit
from server.security.auth import ensure_scope
from server.security.models import StaffUser
from server.security.pii import cipher
from server.security.rules import Actor, ActorKind, Role, names_match

F_SUBJECT_ID = "doorstep.subject_id_number"
F_CONTACT_PHONE = "doorstep.contact_phone"
F_REQUESTER_PHONE = "doorstep.requester_phone"
F_ADDRESS = "doorstep.address"
F_DISABILITY_CERT = "doorstep.disability_certificate"

REVEALABLE = {
    "id_number": ("subject_id_number_enc", F_SUBJECT_ID),
    "contact_phone": ("contact_phone_enc", F_CONTACT_PHONE),
    "address": ("address_enc", F_ADDRESS),
    "requester_phone": ("requester_phone_enc", F_REQUESTER_PHONE),
    "disability_certificate": ("disability_certificate_enc", F_DISABILITY_CERT),
}
UNIQUE_INDEX = "uq_doorstep_request_one_open_per_person"


@dataclass(frozen=True)
class NewRequest:
    """What a request says about the person to visit, and who asks."""

    requested_by_kind: RequestedBy
    subject_id_number: str
    subject_name: str
    contact_phone: str
    district: str
    address: str
    city_code: str | None = None
    requester_name: str | None = None
    requester_phone: str | None = None
    disability_certificate: str | None = None
    illness_declared: bool = False


def _invalid(field: str, code: str) -> DomainError:
    return DomainError("request.validation_failed", errors=[{"field": field, "code": code}])


def _phone(raw: str, field: str) -> str:
    normalised = normalise_phone(raw)
    if normalised is None:
        raise DomainError("person.invalid_phone", field=field)
    return normalised


def _check_text(text: str) -> None:
    problems = note_problems(text)
    if problems:
        raise DomainError("doorstep.note_rejected", problems=problems)


def decrypt(request: DoorstepRequest, field: str) -> str | None:
    """One decrypted field of a request (``id_number``, ``contact_phone``, ``address`` …)."""
    column, aad = REVEALABLE[field]
    blob = getattr(request, column)
    return None if blob is None else cipher().decrypt(aad, blob)


# --- creating a request ----------------------------------------------------------------------


def create_request(
    session: Session,
    actor: Actor,
    new: NewRequest,
    *,
    channel: Channel,
    now: datetime,
    requester_person_id: int | None = None,
    default_city: str | None = None,
) -> DoorstepRequest:
    """Record a request for the person named by ID number and name. Refused unless the person is
    eligible (80+, disabled or ill) and has no other open request."""
    today = local_date(now)
    try:
        parsed = parse_id_number(new.subject_id_number, today)
    except InvalidIdNumber as exc:
        raise DomainError("person.invalid_id_number", reason=exc.reason) from None
    contact_phone = _phone(new.contact_phone, "contact_phone")
    requester_phone = None
    if channel is Channel.STAFF and new.requested_by_kind is not RequestedBy.SELF:
        if not new.requester_name:
            raise _invalid("body.requester_name", "missing")
        if not new.requester_phone:
            raise _invalid("body.requester_phone", "missing")
    if new.requester_phone:
        requester_phone = _phone(new.requester_phone, "requester_phone")
    if not new.district or any(ch.isdigit() for ch in new.district):
        raise _invalid("body.district", "pattern")

    bidx = id_number_index(parsed.number)
    person = session.execute(
        select(Person).where(Person.id_number_bidx == bidx)
    ).scalar_one_or_none()
    disability_level = None
    if person is not None:
        if not names_match(new.subject_name, person.name):
            raise DomainError("doorstep.name_mismatch")
        if person.died_on is not None:
            raise DomainError("person.deceased")
        disability_level = person.disability_level
    city_code = new.city_code or (person.city_code if person else None) or default_city
    if city_code is None:
        raise _invalid("body.city_code", "missing")
    if city_code not in CITY_BY_CODE:
        raise DomainError("city.unknown", city_code=city_code)
    ensure_scope(actor, city_code)

    verdict = eligibility(
        parsed.birth_date,
        today,
        disability_level=disability_level,
        disability_certificate=bool(new.disability_certificate),
        illness_declared=new.illness_declared,
    )
    if not verdict.eligible:
        raise DomainError("doorstep.not_eligible", age=verdict.age, reasons=list(verdict.refusals))
    if _open_request_id(session, bidx) is not None:
        raise DomainError("doorstep.already_requested")

    c = cipher()
    request = DoorstepRequest(
        city_code=city_code,
        status=str(Status.REQUESTED),
        channel=str(channel),
        requested_by_kind=str(new.requested_by_kind),
        requester_name=new.requester_name or None,
        requester_phone_enc=c.encrypt(F_REQUESTER_PHONE, requester_phone)
        if requester_phone
        else None,
        requester_person_id=requester_person_id,
        created_by_staff_id=actor.id if actor.kind is ActorKind.STAFF else None,
        subject_person_id=person.id if person else None,
        subject_id_number_enc=c.encrypt(F_SUBJECT_ID, parsed.number),
        subject_id_number_bidx=bidx,
        subject_name=person.name if person else new.subject_name,
        subject_birth_date=parsed.birth_date,
        contact_phone_enc=c.encrypt(F_CONTACT_PHONE, contact_phone),
        district=new.district,
        address_enc=c.encrypt(F_ADDRESS, new.address),
        reasons=encode_reasons(verdict.reasons),
        disability_certificate_enc=c.encrypt(F_DISABILITY_CERT, new.disability_certificate)
        if new.disability_certificate
        else None,
        illness_declared=new.illness_declared,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    try:
        session.flush()
    except IntegrityError as exc:  # another request for the person committed meanwhile
        session.rollback()
        if UNIQUE_INDEX in str(exc.orig) or "subject_id_number_bidx" in str(exc.orig):
            raise DomainError("doorstep.already_requested") from None
        raise
    audit.record(
        session,
        actor,
        "doorstep.requested",
        object_type="doorstep_request",
        object_id=request.id,
        city_code=city_code,
        now=now,
        channel=str(channel),
        requested_by=str(new.requested_by_kind),
        reasons=list(verdict.reasons),
        registered=person is not None,
    )
    session.commit()
    return request


def _open_request_id(session: Session, bidx: bytes) -> int | None:
    return session.execute(
        select(DoorstepRequest.id).where(
            DoorstepRequest.subject_id_number_bidx == bidx,
            DoorstepRequest.status.in_([str(s) for s in OPEN_STATUSES]),
        )
    ).scalar_one_or_none()


def request_by_cardholder(
    session: Session,
    actor: Actor,
    *,
    for_self: bool,
    contact_phone: str | None,
    district: str,
    address: str,
    now: datetime,
    subject_id_number: str | None = None,
    subject_name: str | None = None,
    city_code: str | None = None,
    disability_certificate: str | None = None,
    illness_declared: bool = False,
) -> DoorstepRequest:
    """A signed-in cardholder asks for a visit, for themselves or for a family member."""
    me = session.get(Person, actor.id)
    if me is None:
        raise DomainError("auth.invalid_token")
    if for_self:
        subject_id_number, subject_name = decrypt_id_number(me), me.name
        contact_phone = contact_phone or decrypt_phone(me)
        kind = RequestedBy.SELF
    else:
        if not subject_id_number:
            raise _invalid("body.subject_id_number", "missing")
        if not subject_name:
            raise _invalid("body.subject_name", "missing")
        kind = RequestedBy.FAMILY
    if not contact_phone:
        raise _invalid("body.contact_phone", "missing")
    new = NewRequest(
        requested_by_kind=kind,
        subject_id_number=subject_id_number,
        subject_name=subject_name,
        contact_phone=contact_phone,
        district=district,
        address=address,
        city_code=city_code,
        disability_certificate=disability_certificate,
        illness_declared=illness_declared,
    )
    return create_request(
        session,
        actor,
        new,
        channel=Channel.MOBILE,
        now=now,
        requester_person_id=me.id,
        default_city=me.city_code,
    )


# --- reading ---------------------------------------------------------------------------------


def list_requests(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    assigned_to: int | None = None,
    city_code: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[DoorstepRequest], bool]:
    """Requests in the actor's city scope, the next planned visit first (unplanned ones last,
    oldest first). ``status="open"`` means requested, assigned or visited. Returns the page and
    whether another page follows."""
    stmt = select(DoorstepRequest)
    if city_code is not None:
        ensure_scope(actor, city_code)
        stmt = stmt.where(DoorstepRequest.city_code == city_code)
    if actor.city_code is not None:
        stmt = stmt.where(DoorstepRequest.city_code == actor.city_code)
    if status == "open":
        stmt = stmt.where(DoorstepRequest.status.in_([str(s) for s in OPEN_STATUSES]))
    elif status is not None:
        stmt = stmt.where(DoorstepRequest.status == status)
    if assigned_to is not None:
        stmt = stmt.where(DoorstepRequest.assigned_to_id == assigned_to)
    stmt = stmt.order_by(
        DoorstepRequest.planned_from.is_(None),
        DoorstepRequest.planned_from,
        DoorstepRequest.created_at,
        DoorstepRequest.id,
    )
    rows = list(session.execute(stmt.offset((page - 1) * per_page).limit(per_page + 1)).scalars())
    return rows[:per_page], len(rows) > per_page


def list_my_requests(session: Session, actor: Actor, limit: int = 50) -> list[DoorstepRequest]:
    """The requests a cardholder made (for themselves or family), newest first."""
    return list(
        session.execute(
            select(DoorstepRequest)
            .where(DoorstepRequest.requester_person_id == actor.id)
            .order_by(DoorstepRequest.id.desc())
            .limit(limit)
        ).scalars()
    )


def get_request(session: Session, actor: Actor, request_id: int) -> DoorstepRequest:
    request = session.get(DoorstepRequest, request_id)
    if request is None:
        raise DomainError("doorstep.not_found")
    ensure_scope(actor, request.city_code)
    return request


def visits_of(session: Session, request_id: int) -> list[DoorstepVisit]:
    return list(
        session.execute(
            select(DoorstepVisit)
            .where(DoorstepVisit.request_id == request_id)
            .order_by(DoorstepVisit.id)
        ).scalars()
    )


def staff_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(wanted))
    )
    return {row.id: row.display_name for row in rows}


def subject_person(session: Session, request: DoorstepRequest) -> Person | None:
    """The registered person the request is for (registered since, perhaps), or None."""
    if request.subject_person_id is not None:
        return session.get(Person, request.subject_person_id)
    return session.execute(
        select(Person).where(Person.id_number_bidx == request.subject_id_number_bidx)
    ).scalar_one_or_none()


def requester_display_name(session: Session, request: DoorstepRequest) -> str | None:
    if request.requester_name:
        return request.requester_name
    if request.requester_person_id is not None:
        person = session.get(Person, request.requester_person_id)
        return person.name if person else None
    return None


def reveal(
    session: Session, actor: Actor, request_id: int, fields: list[str], now: datetime
) -> dict[str, str | None]:
    """Unmasked numbers and address for staff whose scope covers the request (the visit needs
    them); every reveal is audited with the field names."""
    request = get_request(session, actor, request_id)
    out = {field: decrypt(request, field) for field in fields}
    audit.record(
        session,
        actor,
        "doorstep.pii_revealed",
        object_type="doorstep_request",
        object_id=request.id,
        city_code=request.city_code,
        now=now,
        fields=sorted(out),
    )
    session.commit()
    return out


# --- changing a request ----------------------------------------------------------------------


def _lock(session: Session, request_id: int) -> DoorstepRequest:
    request = session.execute(
        select(DoorstepRequest).where(DoorstepRequest.id == request_id).with_for_update()
    ).scalar_one_or_none()
    if request is None:
        raise DomainError("doorstep.not_found")
    return request


def _next(request: DoorstepRequest, action: Action) -> Status:
    try:
        return next_status(action, Status(request.status))
    except InvalidTransition:
        raise DomainError(
            "doorstep.invalid_transition", action=str(action), status=request.status
        ) from None


def _check_window(start: datetime, end: datetime, now: datetime) -> None:
    problems = window_problems(start, end, now)
    if problems:
        raise DomainError("doorstep.invalid_window", problems=problems)


def assign_request(
    session: Session,
    actor: Actor,
    request_id: int,
    *,
    staff_id: int,
    planned_from: datetime,
    planned_to: datetime,
    now: datetime,
    illness_confirmed: bool = False,
    reassign: bool = False,
) -> DoorstepRequest:
    """Give the visit to a branch staff user of the request's city, with a planned window. A
    request already assigned is refused unless ``reassign`` says the change is meant, so of two
    staff assigning at once exactly one wins."""
    request = _lock(session, request_id)
    ensure_scope(actor, request.city_code)
    if not reassign and request.status == Status.ASSIGNED:
        raise DomainError("doorstep.already_assigned")
    action = Action.REASSIGN if reassign else Action.ASSIGN
    target = _next(request, action)
    _check_window(planned_from, planned_to, now)
    assignee = session.get(StaffUser, staff_id)
    if (
        assignee is None
        or not assignee.active
        or assignee.role != Role.BRANCH_STAFF
        or assignee.city_code != request.city_code
    ):
        raise DomainError("doorstep.invalid_assignee")
    if request.illness_confirmed_at is None:
        if needs_illness_confirmation(decode_reasons(request.reasons)) and not illness_confirmed:
            raise DomainError("doorstep.illness_unconfirmed")
        if illness_confirmed and request.illness_declared:
            request.illness_confirmed_by = actor.id
            request.illness_confirmed_at = now
    previous = request.assigned_to_id
    request.status = str(target)
    request.assigned_to_id = assignee.id
    request.assigned_by_id = actor.id
    request.assigned_at = now
    request.planned_from = planned_from
    request.planned_to = planned_to
    request.updated_at = now
    audit.record(
        session,
        actor,
        f"doorstep.{action}ed",
        object_type="doorstep_request",
        object_id=request.id,
        city_code=request.city_code,
        now=now,
        assigned_to=assignee.id,
        previous=previous,
        planned_from=planned_from.isoformat(),
        planned_to=planned_to.isoformat(),
        illness_confirmed=request.illness_confirmed_at is not None,
    )
    session.commit()
    return request


def record_visit(
    session: Session,
    actor: Actor,
    request_id: int,
    *,
    outcome: Outcome,
    now: datetime,
    note: str | None = None,
    next_from: datetime | None = None,
    next_to: datetime | None = None,
    visited_at: datetime | None = None,
) -> tuple[DoorstepRequest, DoorstepVisit]:
    """Record a visit by the assigned staff user (or a city administrator). ``completed``: the
    card was issued and activated on the spot; ``refused`` closes the request; ``not_home`` and
    ``needs_reschedule`` keep the assignment with a new window, or without one return the
    request to the queue. ``visited_at`` (default ``now``) lets staff record a visit after
    the fact: not in the future beyond the clock skew, not before the request was made."""
    if note:
        _check_text(note)
    new_window = next_from is not None or next_to is not None
    if new_window:
        if outcome not in (Outcome.NOT_HOME, Outcome.NEEDS_RESCHEDULE):
            raise _invalid("body.next_window", "not_allowed")
        if next_from is None or next_to is None:
            raise _invalid("body.next_window", "missing")
    request = _lock(session, request_id)
    ensure_scope(actor, request.city_code)
    action = visit_action(outcome, new_window=new_window)
    target = _next(request, action)
    if not may_act_on_visit(actor.id, actor.role is Role.CITY_ADMIN, request.assigned_to_id):
        raise DomainError("doorstep.not_assignee")
    if new_window:
        _check_window(next_from, next_to, now)  # type: ignore[arg-type]
    at = now if visited_at is None else visited_at
    problems = visit_time_problems(at, request.created_at, now)
    if problems:
        raise DomainError("doorstep.invalid_visit_time", problems=problems)
    visit = DoorstepVisit(
        request_id=request.id, staff_id=actor.id, visited_at=at, outcome=str(outcome), note=note
    )
    session.add(visit)
    request.status = str(target)
    request.updated_at = now
    if action is Action.VISIT_RESCHEDULED:
        request.planned_from, request.planned_to = next_from, next_to
    elif action is Action.VISIT_MISSED:
        request.assigned_to_id = None
        request.assigned_at = None
        request.planned_from = request.planned_to = None
    elif action is Action.VISIT_REFUSED:
        request.cancelled_at = now
        request.cancelled_by_kind = str(actor.kind)
        request.cancelled_by_id = actor.id
        request.cancel_reason = "上门时本人拒绝办理 refused at the visit"
    session.flush()
    audit.record(
        session,
        actor,
        "doorstep.visited",
        object_type="doorstep_request",
        object_id=request.id,
        city_code=request.city_code,
        now=now,
        visit_id=visit.id,
        outcome=str(outcome),
        status=request.status,
        visited_at=at.isoformat(),
    )
    session.commit()
    return request, visit


def complete_request(
    session: Session, actor: Actor, request_id: int, card_id: int, now: datetime
) -> DoorstepRequest:
    """Close a visited request with the card issued at the visit: a card of that very person,
    active (issued and activated on the spot), issued no earlier than the request was made."""
    request = _lock(session, request_id)
    ensure_scope(actor, request.city_code)
    target = _next(request, Action.COMPLETE)
    if not may_act_on_visit(actor.id, actor.role is Role.CITY_ADMIN, request.assigned_to_id):
        raise DomainError("doorstep.not_assignee")
    card = session.get(Card, card_id)
    if card is None:
        raise DomainError("card.not_found")
    person = session.get(Person, card.person_id)
    if person is None or person.id_number_bidx != request.subject_id_number_bidx:
        raise DomainError("doorstep.card_of_another_person")
    if card.state != CardState.ACTIVE:
        raise DomainError("card.not_active", state=card.state)
    if card.issued_on is None or card.issued_on < local_date(request.created_at):
        raise DomainError("doorstep.card_predates_request")
    request.status = str(target)
    request.card_id = card.id
    request.subject_person_id = person.id
    request.completed_by = actor.id
    request.completed_at = now
    request.updated_at = now
    audit.record(
        session,
        actor,
        "doorstep.completed",
        object_type="doorstep_request",
        object_id=request.id,
        city_code=request.city_code,
        now=now,
        card_id=card.id,
        person_id=person.id,
    )
    session.commit()
    return request


def cancel_request(
    session: Session, actor: Actor, request_id: int, reason: str, now: datetime
) -> DoorstepRequest:
    """Cancel with a reason: staff in scope at any open stage; a cardholder only their own
    request, and only before the visit."""
    _check_text(reason)
    request = _lock(session, request_id)
    if actor.kind is ActorKind.CARDHOLDER:
        if request.requester_person_id != actor.id:
            raise DomainError("doorstep.not_found")
        if Status(request.status) not in REQUESTER_CANCELLABLE:
            raise DomainError(
                "doorstep.invalid_transition", action=str(Action.CANCEL), status=request.status
            )
    else:
        ensure_scope(actor, request.city_code)
    target = _next(request, Action.CANCEL)
    previous = request.status
    request.status = str(target)
    request.cancelled_at = now
    request.cancelled_by_kind = str(actor.kind)
    request.cancelled_by_id = actor.id
    request.cancel_reason = reason
    request.updated_at = now
    audit.record(
        session,
        actor,
        "doorstep.cancelled",
        object_type="doorstep_request",
        object_id=request.id,
        city_code=request.city_code,
        now=now,
        from_status=previous,
        reason=reason,
    )
    session.commit()
    return request
