"""Demo data for ``flask seed demo``: fictional people, every card state, one staff user per role.

Everything goes through the real service functions, so the demo also exercises the rules and
writes the same card events and audit trail that production would.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy.orm import Session

from server.registry import service
from server.registry.rules import CardAction, SealReason, check_digit, luhn_ok
from server.security.rules import Actor, ActorKind, Role
from server.security.service import (
    create_department_client,
    create_staff_user,
    new_totp_secret,
    staff_actor,
)

DEMO_PIN = "135790"
# Cards are produced by the card factory's system, recorded under this province-wide actor.
CARD_FACTORY = Actor(kind=ActorKind.STAFF, id=0, label="card-factory")


def demo_id_number(region: str, birth: date, seq: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_digit(first17)


DEMO_BANK_BALANCE_FEN = 50_000  # ¥500 in each demo card's bank account


def demo_bank_account(n: int) -> str:
    base = f"622202{n:012d}"
    for last in "0123456789":
        if luhn_ok(base + last):
            return base + last
    raise AssertionError("unreachable")


@dataclass
class DemoPerson:
    key: str
    name: str
    region: str
    birth: date
    seq: int
    city: str
    phone: str
    bank: str
    story: str  # final card state wanted
    disability_level: int | None = None
    id_number: str = field(init=False)

    def __post_init__(self) -> None:
        self.id_number = demo_id_number(self.region, self.birth, self.seq)


PEOPLE = [
    DemoPerson(
        "chen", "陈伯", "440104", date(1950, 3, 12), 31, "440100", "13800000001", "icbc", "active"
    ),
    DemoPerson(
        "li", "李阿姨", "440604", date(1963, 8, 20), 42, "440600", "13800000002", "gdrc", "active"
    ),
    DemoPerson(
        "ho", "何嘉欣", "820000", date(1988, 5, 6), 18, "440400", "13800000003", "boc", "active"
    ),
    DemoPerson(
        "huang",
        "黄志强",
        "441900",
        date(1979, 11, 2),
        55,
        "441900",
        "13800000004",
        "ccb",
        "active",
        2,
    ),
    DemoPerson(
        "lin", "林晓彤", "441502", date(2008, 9, 1), 26, "441500", "13800000005", "psbc", "issued"
    ),
    DemoPerson(
        "zhang",
        "张伟",
        "440106",
        date(1990, 1, 1),
        77,
        "440100",
        "13800000006",
        "icbc",
        "suspended",
    ),
    DemoPerson(
        "wang", "王芳", "440103", date(1985, 7, 15), 64, "440100", "13800000007", "abc", "replaced"
    ),
    DemoPerson(
        "liu", "刘洋", "440605", date(1995, 2, 28), 13, "440600", "13800000008", "gdrc", "applied"
    ),
    DemoPerson(
        "zhao", "赵敏", "441900", date(1992, 4, 10), 48, "441900", "13800000009", "ccb", "produced"
    ),
    DemoPerson(
        "zhou",
        "周建国",
        "440105",
        date(1940, 6, 1),
        19,
        "440100",
        "13800000010",
        "icbc",
        "deceased",
    ),
    DemoPerson(
        "wu", "吴磊", "441502", date(1983, 12, 9), 35, "441500", "13800000011", "psbc", "cancelled"
    ),
    DemoPerson(
        "guo", "郭静", "440111", date(1975, 10, 30), 82, "440100", "13800000012", "bocom", "zombie"
    ),
    DemoPerson(
        "chan", "陈美玲", "810000", date(1972, 2, 14), 62, "440100", "13800000013", "boc", "active"
    ),
    DemoPerson(
        "smith",
        "John Smith",
        "944840",
        date(1980, 10, 10),
        1,
        "440100",
        "13800000014",
        "icbc",
        "active",
    ),
    # Elderly Guangzhou holders for the kiosk: one activates a new card there, one enters a museum.
    DemoPerson(
        "feng", "冯秀英", "440104", date(1942, 3, 8), 51, "440100", "13800000015", "icbc", "issued"
    ),
    DemoPerson(
        "liang", "梁国华", "440105", date(1944, 9, 16), 27, "440100", "13800000016", "boc", "active"
    ),
]

STAFF = [
    ("gz.branch", "广州网点 黄敏", Role.BRANCH_STAFF, "440100", None),
    ("gz.admin", "广州市局 梁志明", Role.CITY_ADMIN, "440100", None),
    ("zh.branch", "珠海网点 区嘉雯", Role.BRANCH_STAFF, "440400", None),
    ("fs.branch", "佛山网点 冯家豪", Role.BRANCH_STAFF, "440600", None),
    ("dg.branch", "东莞网点 袁丽", Role.BRANCH_STAFF, "441900", None),
    ("sw.branch", "汕尾网点 蔡少华", Role.BRANCH_STAFF, "441500", None),
    ("finance.officer", "省财政厅 许文", Role.DEPARTMENT_OFFICER, None, "finance"),
    ("auditor", "审计 邓佳", Role.AUDITOR, None, None),
    ("sysadmin", "系统管理员 何工", Role.SYSTEM_ADMIN, None, None),
]


def _password() -> str:
    return "Demo-" + secrets.token_urlsafe(9) + "7a"


def seed_demo(session: Session, now: datetime) -> dict:
    """Create the demo data set and return what to print (passwords and TOTP secrets, once)."""
    staff_out = []
    actors = {}
    for username, display, role, city, dept in STAFF:
        password = _password()
        user = create_staff_user(
            session,
            None,
            username=username,
            display_name=display,
            password=password,
            role=role,
            city_code=city,
            department=dept,
            now=now,
        )
        enrolment = new_totp_secret(session, user, None, now)
        actors[username] = staff_actor(user)
        staff_out.append(
            {
                "username": username,
                "role": str(role),
                "city": city,
                "password": password,
                "totp_secret": enrolment.secret,
            }
        )

    branch_for = {
        "440100": "gz.branch",
        "440400": "zh.branch",
        "440600": "fs.branch",
        "441900": "dg.branch",
        "441500": "sw.branch",
    }
    serial_no = 0
    people_out = []

    bank = current_app.extensions["ssc.bank"]

    def produce(card_id: int) -> None:
        nonlocal serial_no
        serial_no += 1
        account = demo_bank_account(serial_no)
        service.produce_card(
            session,
            CARD_FACTORY,
            card_id,
            serial=f"A{10000000 + serial_no:08d}",
            bank_account_number=account,
            now=now,
        )
        # the bank behind the card (the sandbox bank under `make run`) opens its account
        bank.open_account(account, DEMO_BANK_BALANCE_FEN)

    for p in PEOPLE:
        staff = actors[branch_for[p.city]]
        person = service.register_person(
            session,
            staff,
            id_number=p.id_number,
            name=p.name,
            city_code=p.city,
            phone=p.phone,
            disability_level=p.disability_level,
            now=now,
        )
        card = service.apply_card(
            session, staff, person.id, generation=3, issuing_city=p.city, bank_code=p.bank, now=now
        )
        final = card
        if p.story != "applied":
            produce(card.id)
        if p.story not in ("applied", "produced"):
            issued_at = now - timedelta(days=800) if p.story == "zombie" else now
            service.issue_card(session, staff, card.id, issued_at)
        if p.story in ("active", "suspended", "replaced", "deceased"):
            service.activate_card(session, staff, card.id, DEMO_PIN, now)
        if p.story == "suspended":
            service.change_state(session, staff, card.id, CardAction.REPORT_LOSS, now, "丢失 lost")
        if p.story == "replaced":
            new = service.replace_card(session, staff, card.id, reason="卡片损坏 damaged", now=now)
            produce(new.id)
            service.issue_card(session, staff, new.id, now)
            service.activate_card(session, staff, new.id, DEMO_PIN, now)
            final = new
        if p.story == "deceased":
            service.update_person(
                session, staff, person.id, {"died_on": now.date() - timedelta(days=30)}, now
            )
        if p.story == "zombie":
            service.seal_card(session, staff, card.id, SealReason.ZOMBIE, "两年未激活", now)
        if p.story == "cancelled":
            service.change_state(session, staff, card.id, CardAction.CANCEL, now, "本人申请注销")
        session.refresh(final)
        people_out.append(
            {
                "name": p.name,
                "id_number": p.id_number,
                "city": p.city,
                "card_id": final.id,
                "card_state": final.state,
            }
        )

    terminals_out = _demo_transit(session, now)
    from server.doorstep.demo import seed_doorstep_demo

    doorstep_out = seed_doorstep_demo(session, actors, now)
    from server.kiosk.demo import seed_kiosk_demo

    kiosk_out = seed_kiosk_demo(session, actors["gz.admin"], now)
    _client, key = create_department_client(
        session,
        actors["sysadmin"],
        name="省财政厅惠民惠农补贴系统",
        department="finance",
        city_code=None,
        now=now,
    )
    return {
        "staff": staff_out,
        "people": people_out,
        "department_key": key,
        "pin": DEMO_PIN,
        "terminals": terminals_out,
        "doorstep": doorstep_out,
        "kiosk": kiosk_out,
    }


# Demo terminals: (code, kind, city, owner, network, stop).
TERMINALS = [
    ("GZM-TYXL-01", "metro_gate", "440100", "广州地铁 Guangzhou Metro", "gz-metro", "gzm-tiyuxilu"),
    ("GZM-XL-01", "metro_gate", "440100", "广州地铁 Guangzhou Metro", "gz-metro", "gzm-xilang"),
    ("GZB-0001", "bus_validator", "440100", "广州公交 Guangzhou Bus", "gz-bus", None),
    ("GZBRT-0001", "bus_validator", "440100", "广州快速公交 Guangzhou BRT", "gz-brt", None),
    (
        "GZC-ZH-01",
        "bus_validator",
        "440100",
        "广珠城际快巴 Guangzhou–Zhuhai coach",
        "gz-zh-coach",
        None,
    ),
    ("FSM-NZ-01", "metro_gate", "440600", "佛山地铁 Foshan Metro", "fs-metro", "fsm-nanzhuang"),
]


def _demo_transit(session: Session, now: datetime) -> list[dict]:
    """The demo fare data and a few placed terminals (their HMAC secrets are printed once)."""
    from pathlib import Path

    from server.terminals.service import register_terminal
    from server.transit import fares
    from server.transit.models import TerminalPlacement

    fares.import_fares(session, Path(fares.__file__).parent / "data" / "demo", now)
    out = []
    for code, kind, city, owner, network, stop in TERMINALS:
        terminal, secret = register_terminal(
            session, None, code=code, kind=kind, city_code=city, owner=owner, now=now
        )
        session.add(
            TerminalPlacement(
                terminal_id=terminal.id, network_id=network, stop_id=stop, placed_at=now
            )
        )
        out.append({"code": code, "kind": kind, "network": network, "stop": stop, "secret": secret})
    session.commit()
    return out
