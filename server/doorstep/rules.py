"""Door-to-door card issuance (上门办卡): who may ask for it, and the life of a request.

Pure: no Flask, no database, no clock reads (dates and moments are passed in).

A request is for a person who cannot come to a branch: aged 80 or more on the day of the request,
disabled (a disability level in the registry, or a declared certificate number), or ill or
bedridden (declared; branch staff confirm it when they assign the visit if it is the only reason).

Life of a request::

    requested ──assign──▶ assigned ──visit: completed──▶ visited ──complete (card)──▶ completed
        ▲                   │  ▲
        │                   │  └── visit: not_home / needs_reschedule with a new window
        └───────────────────┘      (stays assigned to the same staff user)
          visit: not_home / needs_reschedule without a new window (assignment cleared)

    requested | assigned | visited ──cancel──▶ cancelled     assigned ──visit: refused──▶ cancelled
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from server.registry.rules import age_on

MIN_AGE: Final = 80
NOTE_MAX_CHARS: Final = 100
WINDOW_MAX: Final = timedelta(hours=8)
WINDOW_MAX_AHEAD: Final = timedelta(days=60)
# A visit time given by the visiting staff may run this far ahead of the server's clock.
VISIT_CLOCK_SKEW: Final = timedelta(minutes=5)


class Status(StrEnum):
    REQUESTED = "requested"  # 已申请，待派单
    ASSIGNED = "assigned"  # 已派单，待上门
    VISITED = "visited"  # 已上门办卡，待确认卡片
    COMPLETED = "completed"  # 已完成
    CANCELLED = "cancelled"  # 已取消


STATUS_NAMES: Final = {
    Status.REQUESTED: ("待派单", "Requested"),
    Status.ASSIGNED: ("待上门", "Assigned"),
    Status.VISITED: ("已上门，待确认卡片", "Visited, card to confirm"),
    Status.COMPLETED: ("已完成", "Completed"),
    Status.CANCELLED: ("已取消", "Cancelled"),
}

# At most one request per person in these statuses; a partial unique index holds it too.
OPEN_STATUSES: Final = frozenset({Status.REQUESTED, Status.ASSIGNED, Status.VISITED})


def status_name(status: str) -> str:
    """``"待上门 Assigned"``: the status's name for people, Chinese first."""
    return " ".join(STATUS_NAMES[Status(status)])


class RequestedBy(StrEnum):
    SELF = "self"  # 本人
    FAMILY = "family"  # 家属
    COMMUNITY_WORKER = "community_worker"  # 社区工作者


class Channel(StrEnum):
    MOBILE = "mobile"  # 手机申请
    STAFF = "staff"  # 网点代录（电话或社区工作者转来）


# --- eligibility -----------------------------------------------------------------------------
class Reason(StrEnum):
    AGE = "age_80_plus"  # 80 周岁以上
    DISABILITY = "disability"  # 残疾
    ILLNESS = "illness"  # 患病或卧床


# Why a person is not eligible: one word for each way in that is closed.
NOT_AGED = "under_80"
NOT_DISABLED = "no_disability"
NOT_ILL = "no_illness_declared"


@dataclass(frozen=True)
class Eligibility:
    age: int
    reasons: tuple[Reason, ...]  # empty: not eligible
    refusals: tuple[str, ...]  # why each way in is closed (all three when not eligible)

    @property
    def eligible(self) -> bool:
        return bool(self.reasons)


def eligibility(
    birth_date: date,
    on: date,
    *,
    disability_level: int | None = None,
    disability_certificate: bool = False,
    illness_declared: bool = False,
) -> Eligibility:
    """Who may have a card issued at home, on the day ``on`` (the request's local date)."""
    age = age_on(birth_date, on)
    reasons: list[Reason] = []
    refusals: list[str] = []
    if age >= MIN_AGE:
        reasons.append(Reason.AGE)
    else:
        refusals.append(NOT_AGED)
    if disability_level is not None or disability_certificate:
        reasons.append(Reason.DISABILITY)
    else:
        refusals.append(NOT_DISABLED)
    if illness_declared:
        reasons.append(Reason.ILLNESS)
    else:
        refusals.append(NOT_ILL)
    return Eligibility(age=age, reasons=tuple(reasons), refusals=tuple(refusals))


def needs_illness_confirmation(reasons: tuple[Reason, ...] | list[Reason]) -> bool:
    """A declared illness that is the only reason must be confirmed by staff when assigning."""
    return set(reasons) == {Reason.ILLNESS}


def encode_reasons(reasons: tuple[Reason, ...] | list[Reason]) -> str:
    return ",".join(str(r) for r in reasons)


def decode_reasons(stored: str) -> list[Reason]:
    return [Reason(r) for r in stored.split(",") if r]


# --- lifecycle -------------------------------------------------------------------------------
class Action(StrEnum):
    ASSIGN = "assign"
    REASSIGN = "reassign"
    VISIT_COMPLETED = "visit_completed"  # card issued and activated on the spot
    VISIT_RESCHEDULED = "visit_rescheduled"  # missed, a new window with the same staff user
    VISIT_MISSED = "visit_missed"  # missed, back to the queue
    VISIT_REFUSED = "visit_refused"  # the person refused at the door
    COMPLETE = "complete"
    CANCEL = "cancel"


class Outcome(StrEnum):
    COMPLETED = "completed"  # 已办结（现场发卡并激活）
    NOT_HOME = "not_home"  # 无人在家
    REFUSED = "refused"  # 本人拒绝办理
    NEEDS_RESCHEDULE = "needs_reschedule"  # 需改期


TRANSITIONS: Final[dict[tuple[Action, Status], Status]] = {
    (Action.ASSIGN, Status.REQUESTED): Status.ASSIGNED,
    (Action.REASSIGN, Status.ASSIGNED): Status.ASSIGNED,
    (Action.VISIT_COMPLETED, Status.ASSIGNED): Status.VISITED,
    (Action.VISIT_RESCHEDULED, Status.ASSIGNED): Status.ASSIGNED,
    (Action.VISIT_MISSED, Status.ASSIGNED): Status.REQUESTED,
    (Action.VISIT_REFUSED, Status.ASSIGNED): Status.CANCELLED,
    (Action.COMPLETE, Status.VISITED): Status.COMPLETED,
    (Action.CANCEL, Status.REQUESTED): Status.CANCELLED,
    (Action.CANCEL, Status.ASSIGNED): Status.CANCELLED,
    (Action.CANCEL, Status.VISITED): Status.CANCELLED,
}

# A requester (on the phone) may cancel only before anyone has been to the door.
REQUESTER_CANCELLABLE: Final = frozenset({Status.REQUESTED, Status.ASSIGNED})


class InvalidTransition(ValueError):
    pass


def next_status(action: Action, current: Status) -> Status:
    """The status after ``action``, or :class:`InvalidTransition`."""
    try:
        return TRANSITIONS[(action, current)]
    except KeyError:
        raise InvalidTransition(f"{action} not allowed from {current}") from None


def allowed_actions(current: Status) -> list[Action]:
    return [a for (a, s) in TRANSITIONS if s is current]


def visit_action(outcome: Outcome, *, new_window: bool) -> Action:
    """The lifecycle action a recorded visit stands for."""
    if outcome is Outcome.COMPLETED:
        return Action.VISIT_COMPLETED
    if outcome is Outcome.REFUSED:
        return Action.VISIT_REFUSED
    return Action.VISIT_RESCHEDULED if new_window else Action.VISIT_MISSED


def may_act_on_visit(actor_id: int, actor_is_city_admin: bool, assigned_to: int | None) -> bool:
    """The assigned staff user records visits and completes; a city administrator may too."""
    return actor_is_city_admin or (assigned_to is not None and actor_id == assigned_to)


# --- planned visit window --------------------------------------------------------------------
def window_problems(start: datetime, end: datetime, now: datetime) -> list[str]:
    """Why a planned visit window is refused (empty: acceptable). Aware datetimes."""
    problems = []
    if end <= start:
        problems.append("end_before_start")
    elif end - start > WINDOW_MAX:
        problems.append("too_long")
    if end <= now:
        problems.append("in_past")
    if start > now + WINDOW_MAX_AHEAD:
        problems.append("too_far_ahead")
    return problems


def visit_time_problems(
    visited_at: datetime, requested_at: datetime, now: datetime, skew: timedelta = VISIT_CLOCK_SKEW
) -> list[str]:
    """Why the time of a recorded visit is refused (empty: acceptable): not in the future beyond
    the clock skew, not before the request was made. Aware datetimes."""
    problems = []
    if visited_at > now + skew:
        problems.append("in_future")
    if visited_at < requested_at:
        problems.append("before_request")
    return problems


# --- notes and reasons: short, and no personal numbers ---------------------------------------
_LONG_DIGITS = re.compile(r"\d[\d\s-]{5,}\d")  # 7+ digits: a phone, ID or account number


def note_problems(text: str, max_chars: int = NOTE_MAX_CHARS) -> list[str]:
    """A free-text note or reason is kept short and must not carry personal numbers."""
    problems = []
    if len(text) > max_chars:
        problems.append("too_long")
    if _LONG_DIGITS.search(text) or re.search(r"\d{6,}[\dXx]", text):
        problems.append("personal_data")
    return problems


# --- masking an address ----------------------------------------------------------------------
def mask_address(detail: str) -> str:
    """Keep the street, hide the numbers: ``东风中路 123 号 5 栋 601`` → ``东风中路****``."""
    head = re.split(r"[\d０-９]", detail, maxsplit=1)[0].strip()
    return (head[:12] if len(head) < len(detail.strip()) else head[:4]) + "****"
