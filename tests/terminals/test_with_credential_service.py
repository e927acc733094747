"""End to end with the real credential service: a cardholder's server code, downloaded lists, an
offline gate, online verification recorded once, and a loss report reaching the gate as a delta."""

from __future__ import annotations

import pytest

from server.clock import utcnow
from server.credentials import service as credentials
from server.credentials.codec import Scene
from server.extensions import db
from server.registry import service as registry
from server.registry.rules import CardAction, luhn_ok
from server.terminals.offline import OfflineGate
from tests.conftest import valid_id
from tests.terminals.conftest import signed

TRUST = "/terminal/v1/trust-list"
REVOCATIONS = "/terminal/v1/revocation-list"
VERIFY = "/terminal/v1/verify"


@pytest.fixture
def holder(app, branch, city_admin):
    """An active card, through the real registry services: (person id, card id)."""
    now = utcnow()
    base = "622202000000000077"
    account = next(base + d for d in "0123456789" if luhn_ok(base + d))
    with app.app_context():
        person = registry.register_person(
            db.session,
            branch.actor,
            id_number=valid_id("440104", "19500312", "077"),
            name="陈伯",
            city_code="440100",
            now=now,
        )
        card = registry.apply_card(
            db.session,
            branch.actor,
            person.id,
            generation=3,
            issuing_city="440100",
            bank_code="icbc",
            now=now,
        )
        registry.produce_card(
            db.session,
            city_admin.actor,
            card.id,
            serial="A20000077",
            bank_account_number=account,
            now=now,
        )
        registry.issue_card(db.session, branch.actor, card.id, now)
        registry.activate_card(db.session, branch.actor, card.id, "135790", now)
        ids = (person.id, card.id)
        db.session.remove()
    return ids


def server_code(app, person_id: int, scene: Scene) -> str:
    with app.app_context():
        text = credentials.issue_server_code(db.session, person_id, scene, utcnow()).text
        db.session.remove()
    return text


def test_end_to_end(app, client, make_terminal, holder, branch):
    person_id, card_id = holder
    metro = make_terminal("metro_gate")
    code = server_code(app, person_id, Scene.TRANSIT)

    trust = signed(client, metro, "GET", TRUST)
    assert trust.status_code == 200
    revocations = signed(client, metro, "GET", REVOCATIONS)
    assert revocations.status_code == 200
    assert (
        signed(
            client, metro, "GET", TRUST, headers={"If-None-Match": trust.headers["ETag"]}
        ).status_code
        == 304
    )

    gate = OfflineGate(trust.get_json(), revocations.get_json())
    assert gate.scan(code, "transit", utcnow())["accepted"] is True

    online = signed(client, metro, "POST", VERIFY, json_body={"code": code, "scene": "transit"})
    assert online.status_code == 200, online.get_json()
    assert online.get_json()["kind"] == "server"
    assert online.get_json()["scene"] == "transit"
    again = signed(client, metro, "POST", VERIFY, json_body={"code": code, "scene": "transit"})
    assert (again.status_code, again.get_json()["code"]) == (409, "credential.replayed")

    library = make_terminal("library_gate")
    wrong = signed(client, library, "POST", VERIFY, json_body={"code": code, "scene": "transit"})
    assert wrong.get_json()["code"] == "terminal.scene_not_allowed"

    with app.app_context():
        registry.change_state(
            db.session, branch.actor, card_id, CardAction.REPORT_LOSS, utcnow(), "丢失"
        )
        db.session.remove()
    delta = signed(
        client, metro, "GET", f"{REVOCATIONS}?since={gate.revocation_version}"
    ).get_json()
    assert delta["full"] is False
    gate.refresh(None, delta)
    refused = gate.scan(code, "transit", utcnow())
    assert refused["accepted"] is False
    assert refused["code"] == "credential.revoked"
