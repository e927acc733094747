"""Who may do what, and where. Pure: no Flask, no database, no clock."""

from __future__ import annotations

import hmac
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import pyotp


class ActorKind(StrEnum):
    STAFF = "staff"
    CARDHOLDER = "cardholder"
    DEPARTMENT = "department"
    TERMINAL = "terminal"


class Role(StrEnum):
    BRANCH_STAFF = "branch_staff"  # 网点工作人员
    CITY_ADMIN = "city_admin"  # 市级管理员
    DEPARTMENT_OFFICER = "department_officer"  # 部门经办人
    AUDITOR = "auditor"  # 审计员
    SYSTEM_ADMIN = "system_admin"  # 系统管理员


ROLE_NAMES = {
    Role.BRANCH_STAFF: ("网点工作人员", "Branch staff"),
    Role.CITY_ADMIN: ("市级管理员", "City administrator"),
    Role.DEPARTMENT_OFFICER: ("部门经办人", "Department officer"),
    Role.AUDITOR: ("审计员", "Auditor"),
    Role.SYSTEM_ADMIN: ("系统管理员", "System administrator"),
}

# Departments that pay subsidies into cards or consume card services (seed §三(三)6).
DEPARTMENTS = {
    "human_resources": ("人力资源社会保障", "Human resources and social security"),
    "finance": ("财政", "Finance"),
    "transport": ("交通运输", "Transport"),
    "culture_tourism": ("文化和旅游", "Culture and tourism"),
    "civil_affairs": ("民政", "Civil affairs"),
    "disabled_federation": ("残联", "Disabled persons' federation"),
    "agriculture": ("农业农村", "Agriculture and rural affairs"),
    "natural_resources": ("自然资源", "Natural resources"),
    "housing": ("住房城乡建设", "Housing and urban-rural development"),
    "provident_fund": ("住房公积金", "Housing provident fund"),
}

_BRANCH = frozenset(
    {
        "self.read",
        "person.register",
        "person.read",
        "person.search",
        "person.update",
        "person.reveal",
        "card.read",
        "card.apply",
        "card.issue",
        "card.activate",
        "card.report_loss",
        "card.report_found",
        "card.replace",
        "card.seal",
        "card.unseal_request",
        "card.cancel",
        "card.pin_verify",
        "card.pin_reset",
        "ecard.revoke",
        "credential.verify_fallback",
        "card.issue_on_site",
        "entrance.read",
        "help.handle",
        "doorstep.request",
        "doorstep.read",
        "doorstep.reveal",
        "doorstep.assign",
        "doorstep.visit",
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.BRANCH_STAFF: _BRANCH,
    Role.CITY_ADMIN: _BRANCH
    | {
        "card.produce",
        "card.unseal_approve",
        "staff.manage",
        "staff.read",
        "audit.read",
        "terminal.manage",
        "terminal.read",
        "transit.settlement.read",
        "entrance.manage",
    },
    Role.DEPARTMENT_OFFICER: frozenset(
        # transit.settlement.read: transport department officers only (checked by the view)
        {"self.read", "person.read", "person.search", "transit.settlement.read"}
    ),
    Role.AUDITOR: frozenset(
        {
            "self.read",
            "audit.read",
            "audit.verify",
            "person.read",
            "card.read",
            "staff.read",
            "terminal.read",
            "transit.settlement.read",
            "doorstep.read",
            "entrance.read",
        }
    ),
    Role.SYSTEM_ADMIN: frozenset(
        {
            "self.read",
            "staff.manage",
            "staff.read",
            "department_client.manage",
            "audit.read",
            "terminal.manage",
            "terminal.read",
            "entrance.manage",
            "entrance.read",
        }
    ),
}

# Roles a city administrator may create; a system administrator may create any.
CITY_ADMIN_CREATES = frozenset({Role.BRANCH_STAFF, Role.DEPARTMENT_OFFICER})

# Permissions of actors that are not staff.
KIND_PERMISSIONS: dict[ActorKind, frozenset[str]] = {
    ActorKind.CARDHOLDER: frozenset({"cardholder.self"}),
    ActorKind.DEPARTMENT: frozenset({"department.self"}),
    ActorKind.TERMINAL: frozenset({"terminal.self"}),
}


@dataclass(frozen=True)
class Actor:
    """Whoever makes a request: a staff user, a cardholder, a department client, a terminal."""

    kind: ActorKind
    id: int
    label: str
    role: Role | None = None
    city_code: str | None = None  # None: province-wide
    department: str | None = None

    @property
    def permissions(self) -> frozenset[str]:
        if self.kind is ActorKind.STAFF and self.role is not None:
            return ROLE_PERMISSIONS[self.role]
        return KIND_PERMISSIONS.get(self.kind, frozenset())


SYSTEM_ACTOR = Actor(kind=ActorKind.STAFF, id=0, label="system", role=None)


def has_permission(actor: Actor, permission: str) -> bool:
    return permission in actor.permissions


def in_city_scope(actor: Actor, *city_codes: str | None) -> bool:
    """Province-wide actors see every city; a city-scoped actor sees objects in its own city."""
    if actor.city_code is None:
        return True
    return any(code == actor.city_code for code in city_codes if code)


def can_create_role(creator: Actor, role: Role) -> bool:
    if creator.role is Role.SYSTEM_ADMIN:
        return True
    return creator.role is Role.CITY_ADMIN and role in CITY_ADMIN_CREATES


def password_problems(password: str, username: str) -> list[str]:
    """Reasons a staff password is refused (empty list: acceptable)."""
    problems = []
    if len(password) < 12:
        problems.append("too_short")
    classes = sum(
        bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
    )
    if classes < 3:
        problems.append("too_few_character_classes")
    if username and username.lower() in password.lower():
        problems.append("contains_username")
    return problems


MAX_FAILED_SIGN_INS = 5
LOCKOUT_MINUTES = 15


# --- cardholder sign-in by phone + SMS code ----------------------------------------------------

SMS_CODE_DIGITS = 6
SMS_CODE_MAX_TRIES = 5  # wrong codes (or wrong real-name attempts) before a code dies


class SmsCodeState(StrEnum):
    LIVE = "live"
    MISSING = "missing"  # never sent to this phone
    USED = "used"
    EXPIRED = "expired"
    LOCKED = "locked"  # too many wrong tries


def sms_code_state(
    *,
    exists: bool,
    expires_at: datetime | None,
    used_at: datetime | None,
    failed_tries: int,
    now: datetime,
    max_tries: int = SMS_CODE_MAX_TRIES,
) -> SmsCodeState:
    if not exists or expires_at is None:
        return SmsCodeState.MISSING
    if used_at is not None:
        return SmsCodeState.USED
    if failed_tries >= max_tries:
        return SmsCodeState.LOCKED
    if now >= expires_at:
        return SmsCodeState.EXPIRED
    return SmsCodeState.LIVE


def resend_wait_seconds(last_sent_at: datetime | None, now: datetime, interval_seconds: int) -> int:
    """Seconds to wait before another code may be sent to the same phone (0: send now)."""
    if last_sent_at is None:
        return 0
    remaining = (last_sent_at - now).total_seconds() + interval_seconds
    return max(0, math.ceil(remaining))


_NAME_DOTS = re.compile(r"[·•・．.\u00b7\u2022\u2027\u30fb\uff0e]")


def normalise_person_name(name: str) -> str:
    """Names compared for the real-name check: NFKC, no spaces, one kind of middle dot
    (``买买提·艾力`` is typed with several different dots), Latin letters folded."""
    folded = unicodedata.normalize("NFKC", name)
    folded = re.sub(r"\s+", "", folded)
    return _NAME_DOTS.sub("·", folded).casefold()


def names_match(given: str, registered: str) -> bool:
    return bool(given.strip()) and normalise_person_name(given) == normalise_person_name(registered)


def matching_totp_step(totp: pyotp.TOTP, code: str, at: datetime, window: int = 1) -> int | None:
    """The time step (within ``window`` steps of ``at``, for clock drift) whose code equals
    ``code``, compared in constant time; None when none does. Callers refuse a step already used."""
    step = int(at.timestamp()) // totp.interval
    for candidate in range(step - window, step + window + 1):
        if hmac.compare_digest(totp.at(candidate * totp.interval), code):
            return candidate
    return None
