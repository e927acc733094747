"""Demo door-to-door requests for ``flask seed demo`` (called by ``server.registry.demo``).

Three fictional Guangzhou residents who cannot come to a branch: a bedridden 90-year-old whose son
(the demo cardholder 陈伯) asked on his phone, an 85-year-old with a disability certificate whose
community worker phoned the branch, and an 82-year-old whose visit is already planned for tomorrow
morning with the Guangzhou branch clerk. Everything goes through the real service functions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from server.clock import SHANGHAI, local_date
from server.doorstep import service
from server.doorstep.rules import RequestedBy
from server.registry.demo import PEOPLE, demo_id_number
from server.registry.service import find_person_by_id_number
from server.security.rules import Actor, ActorKind


def _born_years_ago(today: date, years: int) -> date:
    """A birth date that makes the person ``years`` old today (birthday about a month ago)."""
    return today - timedelta(days=round(years * 365.25) + 30)


def seed_doorstep_demo(session: Session, actors: dict[str, Actor], now: datetime) -> list[dict]:
    today = local_date(now)
    branch = actors["gz.branch"]
    chen = find_person_by_id_number(session, next(p for p in PEOPLE if p.key == "chen").id_number)
    assert chen is not None, "the demo cardholder 陈伯 is seeded first"
    son = Actor(kind=ActorKind.CARDHOLDER, id=chen.id, label=f"cardholder:{chen.id}")

    liang_id = demo_id_number("440104", _born_years_ago(today, 90), 802)
    liang = service.request_by_cardholder(
        session,
        son,
        for_self=False,
        subject_id_number=liang_id,
        subject_name="梁婆婆",
        contact_phone="13800000101",
        city_code="440100",
        district="越秀区",
        address="东风中路 318 号 3 栋 602 房",
        illness_declared=True,
        now=now,
    )

    su_id = demo_id_number("440105", _born_years_ago(today, 85), 801)
    su = service.create_request(
        session,
        branch,
        service.NewRequest(
            requested_by_kind=RequestedBy.COMMUNITY_WORKER,
            requester_name="何晓琳",
            requester_phone="13800000102",
            subject_id_number=su_id,
            subject_name="苏伯",
            contact_phone="13800000103",
            city_code="440100",
            district="海珠区",
            address="江南大道中 126 号 1 栋 801 房",
            disability_certificate="44010519400101123X21",
        ),
        channel=service.Channel.STAFF,
        now=now,
    )

    luo_id = demo_id_number("440106", _born_years_ago(today, 82), 803)
    luo = service.create_request(
        session,
        branch,
        service.NewRequest(
            requested_by_kind=RequestedBy.SELF,
            subject_id_number=luo_id,
            subject_name="罗伯",
            contact_phone="13800000104",
            city_code="440100",
            district="天河区",
            address="天河北路 55 号 2 栋 1203 房",
        ),
        channel=service.Channel.STAFF,
        now=now,
    )
    tomorrow = today + timedelta(days=1)
    starts = datetime.combine(tomorrow, time(9, 30), tzinfo=SHANGHAI).astimezone(UTC)
    service.assign_request(
        session,
        branch,
        luo.id,
        staff_id=branch.id,
        planned_from=starts,
        planned_to=starts + timedelta(hours=2),
        now=now,
    )
    return [
        {"id": r.id, "name": name, "id_number": number, "status": r.status}
        for r, name, number in (
            (liang, "梁婆婆", liang_id),
            (su, "苏伯", su_id),
            (luo, "罗伯", luo_id),
        )
    ]
