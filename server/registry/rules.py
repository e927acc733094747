"""Registry rules: cities, identity numbers, card states and transitions, PINs, bank accounts.

Pure: no Flask, no database, no clock (dates are passed in).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


# --- cities ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class City:
    code: str
    name_zh: str
    name_en: str
    pilot: bool


# Guangdong's 21 prefecture-level cities; the five pilot cities of 粤人社函〔2021〕195号 flagged.
CITIES: tuple[City, ...] = (
    City("440100", "广州市", "Guangzhou", True),
    City("440200", "韶关市", "Shaoguan", False),
    City("440300", "深圳市", "Shenzhen", False),
    City("440400", "珠海市", "Zhuhai", True),
    City("440500", "汕头市", "Shantou", False),
    City("440600", "佛山市", "Foshan", True),
    City("440700", "江门市", "Jiangmen", False),
    City("440800", "湛江市", "Zhanjiang", False),
    City("440900", "茂名市", "Maoming", False),
    City("441200", "肇庆市", "Zhaoqing", False),
    City("441300", "惠州市", "Huizhou", False),
    City("441400", "梅州市", "Meizhou", False),
    City("441500", "汕尾市", "Shanwei", True),
    City("441600", "河源市", "Heyuan", False),
    City("441700", "阳江市", "Yangjiang", False),
    City("441800", "清远市", "Qingyuan", False),
    City("441900", "东莞市", "Dongguan", True),
    City("442000", "中山市", "Zhongshan", False),
    City("445100", "潮州市", "Chaozhou", False),
    City("445200", "揭阳市", "Jieyang", False),
    City("445300", "云浮市", "Yunfu", False),
)
CITY_BY_CODE = {c.code: c for c in CITIES}


# --- identity numbers ------------------------------------------------------------------------
class IdType(StrEnum):
    RESIDENT = "resident"  # 居民身份证
    HK_RESIDENCE_PERMIT = "hk_residence_permit"  # 港澳台居民居住证（香港）810000
    MACAO_RESIDENCE_PERMIT = "macao_residence_permit"  # 澳门 820000
    TAIWAN_RESIDENCE_PERMIT = "taiwan_residence_permit"  # 台湾 830000
    FOREIGN_PERMANENT = "foreign_permanent"  # 外国人永久居留身份证（2023 版，9 开头）


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
# Mainland province-level codes (GB/T 2260) that begin a resident ID number.
_PROVINCES = {
    "11",
    "12",
    "13",
    "14",
    "15",
    "21",
    "22",
    "23",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "41",
    "42",
    "43",
    "44",
    "45",
    "46",
    "50",
    "51",
    "52",
    "53",
    "54",
    "61",
    "62",
    "63",
    "64",
    "65",
}


class InvalidIdNumber(ValueError):
    """``reason`` is a stable machine word: shape, check_digit, region, birth_date."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IdNumber:
    number: str
    id_type: IdType
    birth_date: date
    sex: str  # "M" or "F"


def normalise_id_number(raw: str) -> str:
    return re.sub(r"\s+", "", raw).upper()


def check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def parse_id_number(raw: str, today: date) -> IdNumber:
    """Validate an 18-character identity number and derive its type, birth date and sex."""
    number = normalise_id_number(raw)
    if not _ID_SHAPE.match(number):
        raise InvalidIdNumber("shape")
    if check_digit(number[:17]) != number[17]:
        raise InvalidIdNumber("check_digit")
    if number.startswith("9"):
        id_type = IdType.FOREIGN_PERMANENT
        if number[1:3] not in _PROVINCES:
            raise InvalidIdNumber("region")
    elif number.startswith("810000"):
        id_type = IdType.HK_RESIDENCE_PERMIT
    elif number.startswith("820000"):
        id_type = IdType.MACAO_RESIDENCE_PERMIT
    elif number.startswith("830000"):
        id_type = IdType.TAIWAN_RESIDENCE_PERMIT
    elif number[:2] in _PROVINCES:
        id_type = IdType.RESIDENT
    else:
        raise InvalidIdNumber("region")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("birth_date") from None
    if birth > today or birth.year < 1890:
        raise InvalidIdNumber("birth_date")
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return IdNumber(number=number, id_type=id_type, birth_date=birth, sex=sex)


def age_on(birth_date: date, on: date) -> int:
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalise_phone(raw: str) -> str | None:
    """Mainland mobile number (11 digits, an optional +86 prefix), or None if it is not one."""
    digits = re.sub(r"[\s-]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    return digits if _MOBILE.match(digits) else None


# --- bank accounts ---------------------------------------------------------------------------
# Cooperating banks of Guangdong's social security card (codes are the project's own).
BANKS = {
    "icbc": ("中国工商银行", "ICBC"),
    "abc": ("中国农业银行", "Agricultural Bank of China"),
    "boc": ("中国银行", "Bank of China"),
    "ccb": ("中国建设银行", "China Construction Bank"),
    "bocom": ("交通银行", "Bank of Communications"),
    "psbc": ("中国邮政储蓄银行", "Postal Savings Bank of China"),
    "gdrc": ("广东农信", "Guangdong Rural Credit"),
    "gzrcb": ("广州农商银行", "Guangzhou Rural Commercial Bank"),
    "gdb": ("广发银行", "China Guangfa Bank"),
}


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def valid_bank_account(number: str) -> bool:
    return bool(re.fullmatch(r"\d{16,19}", number)) and luhn_ok(number)


# Illustrative 6-digit issuer prefixes (BIN) for the accounts opened behind new cards.
BANK_BINS = {
    "icbc": "622202",
    "abc": "622848",
    "boc": "621661",
    "ccb": "621700",
    "bocom": "622260",
    "psbc": "621799",
    "gdrc": "621021",
    "gzrcb": "621058",
    "gdb": "622568",
}


def luhn_complete(partial: str) -> str:
    """``partial`` followed by the Luhn check digit that makes it valid."""
    for last in "0123456789":
        if luhn_ok(partial + last):
            return partial + last
    raise AssertionError("unreachable")


def new_bank_account_number(bank_code: str, body: int) -> str:
    """A 19-digit Luhn-valid account number at ``bank_code``: its BIN, ``body`` (12 digits), and
    the check digit. The caller picks ``body`` (at random for a real opening)."""
    if not 0 <= body < 10**12:
        raise ValueError("body must have at most 12 digits")
    return luhn_complete(f"{BANK_BINS[bank_code]}{body:012d}")


# --- card lifecycle --------------------------------------------------------------------------
class CardState(StrEnum):
    APPLIED = "applied"  # 已申领
    PRODUCED = "produced"  # 已制卡
    ISSUED = "issued"  # 已发放
    ACTIVE = "active"  # 正常
    SUSPENDED = "suspended"  # 挂失（临时）
    REPLACED = "replaced"  # 已补换
    SEALED = "sealed"  # 封存
    CANCELLED = "cancelled"  # 注销


CARD_STATE_NAMES = {
    CardState.APPLIED: ("已申领", "Applied"),
    CardState.PRODUCED: ("已制卡", "Produced"),
    CardState.ISSUED: ("已发放", "Issued"),
    CardState.ACTIVE: ("正常", "Active"),
    CardState.SUSPENDED: ("挂失", "Suspended (reported lost)"),
    CardState.REPLACED: ("已补换", "Replaced"),
    CardState.SEALED: ("封存", "Sealed"),
    CardState.CANCELLED: ("注销", "Cancelled"),
}


def card_state_name(state: str) -> str:
    """``"正常 Active"``: the state's name for people, Chinese first."""
    return " ".join(CARD_STATE_NAMES[CardState(state)])


# At most one card per person in these states (one person, one card). The database enforces it
# with a partial unique index built from this set.
USABLE_STATES = frozenset(
    {CardState.APPLIED, CardState.PRODUCED, CardState.ISSUED, CardState.ACTIVE, CardState.SUSPENDED}
)


class CardAction(StrEnum):
    PRODUCE = "produce"
    ISSUE = "issue"
    ACTIVATE = "activate"
    REPORT_LOSS = "report_loss"
    REPORT_FOUND = "report_found"
    REPLACE = "replace"
    SEAL = "seal"
    UNSEAL = "unseal"
    CANCEL = "cancel"


# (action, from state) -> to state. UNSEAL's target is the state the card had when sealed.
TRANSITIONS: dict[tuple[CardAction, CardState], CardState] = {
    (CardAction.PRODUCE, CardState.APPLIED): CardState.PRODUCED,
    (CardAction.ISSUE, CardState.PRODUCED): CardState.ISSUED,
    (CardAction.ACTIVATE, CardState.ISSUED): CardState.ACTIVE,
    (CardAction.REPORT_LOSS, CardState.ACTIVE): CardState.SUSPENDED,
    (CardAction.REPORT_FOUND, CardState.SUSPENDED): CardState.ACTIVE,
    (CardAction.REPLACE, CardState.ACTIVE): CardState.REPLACED,
    (CardAction.REPLACE, CardState.SUSPENDED): CardState.REPLACED,
    (CardAction.SEAL, CardState.ISSUED): CardState.SEALED,
    (CardAction.SEAL, CardState.ACTIVE): CardState.SEALED,
    (CardAction.SEAL, CardState.SUSPENDED): CardState.SEALED,
    (CardAction.CANCEL, CardState.APPLIED): CardState.CANCELLED,
    (CardAction.CANCEL, CardState.PRODUCED): CardState.CANCELLED,
    (CardAction.CANCEL, CardState.ISSUED): CardState.CANCELLED,
    (CardAction.CANCEL, CardState.ACTIVE): CardState.CANCELLED,
    (CardAction.CANCEL, CardState.SUSPENDED): CardState.CANCELLED,
    (CardAction.CANCEL, CardState.SEALED): CardState.CANCELLED,
}
UNSEAL_TARGETS = frozenset({CardState.ISSUED, CardState.ACTIVE, CardState.SUSPENDED})


class SealReason(StrEnum):
    DECEASED = "deceased"  # 持卡人死亡
    DUPLICATE = "duplicate"  # 一人多卡
    ZOMBIE = "zombie"  # 僵尸卡（长期未激活/未使用）
    ON_REQUEST = "on_request"  # 本人申请


class InvalidTransition(ValueError):
    pass


def next_state(
    action: CardAction, current: CardState, sealed_from: CardState | None = None
) -> CardState:
    """The state after ``action``, or :class:`InvalidTransition`."""
    if action is CardAction.UNSEAL:
        if current is CardState.SEALED and sealed_from in UNSEAL_TARGETS:
            return sealed_from  # type: ignore[return-value]
        raise InvalidTransition(f"{action} not allowed from {current}")
    try:
        return TRANSITIONS[(action, current)]
    except KeyError:
        raise InvalidTransition(f"{action} not allowed from {current}") from None


def allowed_actions(current: CardState) -> list[CardAction]:
    actions = [a for (a, s) in TRANSITIONS if s is current]
    if current is CardState.SEALED:
        actions.append(CardAction.UNSEAL)
    return actions


CARD_SERIAL = re.compile(r"^[A-Z]\d{8}$")


def expiry_date(issued_on: date, years: int) -> date:
    try:
        return issued_on.replace(year=issued_on.year + years)
    except ValueError:  # 29 February
        return issued_on.replace(year=issued_on.year + years, day=28)


# --- PIN -------------------------------------------------------------------------------------
PIN_SHAPE = re.compile(r"^\d{6}$")


def pin_problems(pin: str, birth_date: date | None = None) -> list[str]:
    """Why a PIN is refused: shape, repeated digits, a run, or the holder's birthday."""
    if not PIN_SHAPE.match(pin):
        return ["shape"]
    problems = []
    if len(set(pin)) == 1:
        problems.append("repeated")
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in itertools.pairwise(digits)}
    if steps in ({1}, {-1}):
        problems.append("sequence")
    if len(set(pin)) <= 2 and (pin[:3] == pin[3:] or pin[:2] * 3 == pin):
        problems.append("pattern")
    if birth_date is not None and pin in {
        birth_date.strftime("%y%m%d"),
        birth_date.strftime("%m%d%y"),
        birth_date.strftime("%d%m%y"),
    }:
        problems.append("birth_date")
    return problems
