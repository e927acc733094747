"""Entrance fixtures: entrances with their terminals (kiosk fixtures and cardholders with a signed
e-card reused from tests/kiosk and tests/transit)."""

from __future__ import annotations

import pytest

from server.extensions import db
from tests.kiosk.conftest import kiosk, make_card, make_kiosk, master  # noqa: F401
from tests.transit.conftest import holder, make_holder, make_passenger  # noqa: F401

ALL_DAY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")
NEVER: dict = {}


@pytest.fixture
def make_entrance(app, city_admin, now):
    """``make_entrance("GDMUSEUM-MAIN", "museum", terminals=[kiosk])`` through the service."""
    from server.entrances import service

    def make(code="GDMUSEUM-MAIN", kind="museum", *, terminals=(), weekly=None, city="440100"):
        with app.app_context():
            entrance = service.create_entrance(
                db.session,
                city_admin.actor,
                code=code,
                kind=kind,
                name_zh="广东省博物馆 主入口",
                name_en="Guangdong Museum, main entrance",
                city_code=city,
                opening_hours={"weekly": ALL_DAY if weekly is None else weekly},
                now=now,
            )
            for terminal in terminals:
                service.attach_terminal(
                    db.session, city_admin.actor, entrance.id, terminal.code, now
                )
            entrance_id = entrance.id
            db.session.remove()
        return entrance_id

    return make
