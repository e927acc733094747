"""The card lifecycle through the staff API, one person one card, PINs, sealing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.extensions import db
from server.registry.demo import demo_bank_account
from server.registry.models import Card, CardEvent
from tests.conftest import valid_id


@pytest.fixture
def person(client, branch, person_payload):
    return client.post("/staff/v1/persons", json=person_payload, headers=branch.headers).get_json()


@pytest.fixture
def card_flow(client, branch, city_admin):
    """Drive a card through the staff API up to ``state``."""

    def go(person_id: int, state: str = "active", serial: str = "A00000001", n: int = 1) -> dict:
        card = client.post(
            f"/staff/v1/persons/{person_id}/cards",
            json={"issuing_city": "440100", "bank_code": "icbc"},
            headers=branch.headers,
        ).get_json()
        steps = [
            (
                "produced",
                lambda: client.post(
                    f"/staff/v1/cards/{card['id']}/produce",
                    json={"serial": serial, "bank_account_number": demo_bank_account(n)},
                    headers=city_admin.headers,
                ),
            ),
            (
                "issued",
                lambda: client.post(f"/staff/v1/cards/{card['id']}/issue", headers=branch.headers),
            ),
            (
                "active",
                lambda: client.post(
                    f"/staff/v1/cards/{card['id']}/activate",
                    json={"pin": "135790"},
                    headers=branch.headers,
                ),
            ),
        ]
        for name, step in steps:
            if card["state"] == state:
                break
            response = step()
            assert response.status_code == 200, response.get_json()
            card = response.get_json()
            assert card["state"] == name
        return card

    return go


def test_a_card_goes_from_application_to_active(client, branch, person, card_flow):
    card = card_flow(person["id"])
    assert card["state"] == "active"
    assert card["serial"] == "A00000001"
    assert card["bank_account_masked"].startswith("6222") and "*" in card["bank_account_masked"]
    assert card["pin_set"] is True
    assert card["expires_on"] is not None
    events = client.get(f"/staff/v1/cards/{card['id']}/events", headers=branch.headers).get_json()
    assert [e["to_state"] for e in events["items"]] == ["applied", "produced", "issued", "active"]
    assert all(e["actor_id"] for e in events["items"])


def test_a_second_usable_card_is_409(app, client, branch, person, card_flow):
    card_flow(person["id"], "issued")
    response = client.post(
        f"/staff/v1/persons/{person['id']}/cards",
        json={"issuing_city": "440100", "bank_code": "icbc"},
        headers=branch.headers,
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "card.one_person_one_card"
    with app.app_context():
        assert len(db.session.execute(select(Card)).scalars().all()) == 1


def test_illegal_transition_is_409_and_changes_nothing(app, client, branch, person, card_flow):
    card = card_flow(person["id"], "applied")
    response = client.post(
        f"/staff/v1/cards/{card['id']}/report-loss", json={}, headers=branch.headers
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "card.invalid_transition"
    with app.app_context():
        assert db.session.get(Card, card["id"]).state == "applied"
        assert len(db.session.execute(select(CardEvent)).scalars().all()) == 1


def test_branch_staff_cannot_produce_cards(client, branch, person, card_flow):
    card = card_flow(person["id"], "applied")
    response = client.post(
        f"/staff/v1/cards/{card['id']}/produce",
        json={"serial": "A00000009", "bank_account_number": demo_bank_account(1)},
        headers=branch.headers,
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.forbidden"


def test_wrong_pin_is_403_with_tries_left_and_the_third_locks(client, branch, person, card_flow):
    card = card_flow(person["id"])
    url = f"/staff/v1/cards/{card['id']}/pin/verify"
    first = client.post(url, json={"pin": "000001"}, headers=branch.headers)
    assert first.status_code == 403
    assert first.get_json()["code"] == "card.pin_incorrect"
    assert first.get_json()["tries_left"] == 2
    second = client.post(url, json={"pin": "000002"}, headers=branch.headers)
    assert second.get_json()["tries_left"] == 1
    third = client.post(url, json={"pin": "000003"}, headers=branch.headers)
    assert third.status_code == 423
    assert third.get_json()["code"] == "card.pin_locked"
    right_but_locked = client.post(url, json={"pin": "135790"}, headers=branch.headers)
    assert right_but_locked.status_code == 423


def test_staff_reset_unlocks_the_pin(client, branch, person, card_flow):
    card = card_flow(person["id"])
    url = f"/staff/v1/cards/{card['id']}/pin/verify"
    for pin in ("000001", "000002", "000003"):
        client.post(url, json={"pin": pin}, headers=branch.headers)
    reset = client.post(
        f"/staff/v1/cards/{card['id']}/pin/reset", json={"pin": "246813"}, headers=branch.headers
    )
    assert reset.status_code == 200
    assert reset.get_json()["pin_locked"] is False
    ok = client.post(url, json={"pin": "246813"}, headers=branch.headers)
    assert ok.status_code == 200
    assert ok.get_json()["ok"] is True


def test_a_right_pin_clears_earlier_failures(client, branch, person, card_flow):
    card = card_flow(person["id"])
    url = f"/staff/v1/cards/{card['id']}/pin/verify"
    client.post(url, json={"pin": "000001"}, headers=branch.headers)
    assert client.post(url, json={"pin": "135790"}, headers=branch.headers).status_code == 200
    again = client.post(url, json={"pin": "000001"}, headers=branch.headers)
    assert again.get_json()["tries_left"] == 2


@pytest.mark.parametrize("pin", ["123456", "000000", "12345", "900101"])
def test_weak_pins_are_refused_at_activation(client, branch, person, card_flow, pin):
    card = card_flow(person["id"], "issued")
    response = client.post(
        f"/staff/v1/cards/{card['id']}/activate", json={"pin": pin}, headers=branch.headers
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "card.pin_weak"


def test_loss_found_and_replacement(client, branch, person, card_flow):
    card = card_flow(person["id"])
    lost = client.post(
        f"/staff/v1/cards/{card['id']}/report-loss", json={"reason": "丢失"}, headers=branch.headers
    )
    assert lost.get_json()["state"] == "suspended"
    found = client.post(
        f"/staff/v1/cards/{card['id']}/report-found", json={}, headers=branch.headers
    )
    assert found.get_json()["state"] == "active"
    new = client.post(
        f"/staff/v1/cards/{card['id']}/replace",
        json={"reason": "损坏", "serial": "A00000002", "bank_account_number": demo_bank_account(2)},
        headers=branch.headers,
    )
    assert new.status_code == 201
    assert new.get_json()["state"] == "produced"
    assert new.get_json()["replaces_card_id"] == card["id"]
    old = client.get(f"/staff/v1/cards/{card['id']}", headers=branch.headers).get_json()
    assert old["state"] == "replaced"


def test_replacement_with_a_taken_serial_writes_nothing(
    app, client, branch, person, card_flow, person_payload
):
    card = card_flow(person["id"])
    response = client.post(
        f"/staff/v1/cards/{card['id']}/replace",
        json={"reason": "损坏", "serial": "A00000001", "bank_account_number": demo_bank_account(2)},
        headers=branch.headers,
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "card.serial_taken"
    with app.app_context():
        assert [c.state for c in db.session.execute(select(Card)).scalars()] == ["active"]


def test_seal_and_unseal_need_two_people(client, branch, city_admin, make_staff, person, card_flow):
    card = card_flow(person["id"])
    sealed = client.post(
        f"/staff/v1/cards/{card['id']}/seal", json={"reason": "on_request"}, headers=branch.headers
    )
    assert sealed.get_json()["state"] == "sealed"
    request = client.post(
        f"/staff/v1/cards/{card['id']}/unseal-requests",
        json={"reason": "本人要求恢复"},
        headers=city_admin.headers,
    ).get_json()
    own = client.post(
        f"/staff/v1/unseal-requests/{request['id']}/decision",
        json={"approve": True},
        headers=city_admin.headers,
    )
    assert own.status_code == 403
    assert own.get_json()["code"] == "card.approval_required"
    other_admin = make_staff("city_admin", "440100")
    approved = client.post(
        f"/staff/v1/unseal-requests/{request['id']}/decision",
        json={"approve": True},
        headers=other_admin.headers,
    )
    assert approved.status_code == 200
    assert approved.get_json()["status"] == "approved"
    assert (
        client.get(f"/staff/v1/cards/{card['id']}", headers=branch.headers).get_json()["state"]
        == "active"
    )


def test_a_sealed_card_lets_the_person_apply_again(client, branch, person, card_flow):
    card = card_flow(person["id"])
    client.post(
        f"/staff/v1/cards/{card['id']}/seal", json={"reason": "duplicate"}, headers=branch.headers
    )
    again = client.post(
        f"/staff/v1/persons/{person['id']}/cards",
        json={"issuing_city": "440100", "bank_code": "icbc"},
        headers=branch.headers,
    )
    assert again.status_code == 201


def test_unsealing_while_another_card_is_usable_is_409(
    client, branch, city_admin, make_staff, person, card_flow
):
    card = card_flow(person["id"])
    client.post(
        f"/staff/v1/cards/{card['id']}/seal", json={"reason": "duplicate"}, headers=branch.headers
    )
    card_flow(person["id"], "issued", serial="A00000002", n=2)
    request = client.post(
        f"/staff/v1/cards/{card['id']}/unseal-requests",
        json={"reason": "误封"},
        headers=branch.headers,
    ).get_json()
    response = client.post(
        f"/staff/v1/unseal-requests/{request['id']}/decision",
        json={"approve": True},
        headers=city_admin.headers,
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "card.one_person_one_card"


def test_recording_a_death_seals_the_card(client, branch, person, card_flow):
    card = card_flow(person["id"])
    response = client.patch(
        f"/staff/v1/persons/{person['id']}", json={"died_on": "2026-10-01"}, headers=branch.headers
    )
    assert response.status_code == 200
    after = response.get_json()["cards"][0]
    assert after["state"] == "sealed"
    assert after["seal_reason"] == "deceased"
    apply = client.post(
        f"/staff/v1/persons/{person['id']}/cards",
        json={"issuing_city": "440100", "bank_code": "icbc"},
        headers=branch.headers,
    )
    assert apply.get_json()["code"] == "person.deceased"
    assert card["id"] == after["id"]


def test_cancel_needs_a_reason(client, branch, person, card_flow):
    card = card_flow(person["id"], "issued")
    response = client.post(f"/staff/v1/cards/{card['id']}/cancel", json={}, headers=branch.headers)
    assert response.status_code == 422
    fields = [e["field"] for e in response.get_json()["errors"]]
    assert fields == ["body.reason"]
    ok = client.post(
        f"/staff/v1/cards/{card['id']}/cancel", json={"reason": "本人申请"}, headers=branch.headers
    )
    assert ok.get_json()["state"] == "cancelled"


def test_card_of_another_city_is_out_of_scope(client, person, card_flow, make_staff):
    card = card_flow(person["id"])
    zhuhai = make_staff("branch_staff", "440400")
    response = client.post(
        f"/staff/v1/cards/{card['id']}/report-loss", json={}, headers=zhuhai.headers
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.out_of_scope"


def test_macao_resident_in_zhuhai_gets_a_card(client, make_staff):
    zhuhai = make_staff("branch_staff", "440400")
    payload = {
        "id_number": valid_id("820000", "19880506", "182"),
        "name": "何嘉欣",
        "city_code": "440400",
    }
    person = client.post("/staff/v1/persons", json=payload, headers=zhuhai.headers).get_json()
    assert person["id_type"] == "macao_residence_permit"
    card = client.post(
        f"/staff/v1/persons/{person['id']}/cards",
        json={"issuing_city": "440400", "bank_code": "boc"},
        headers=zhuhai.headers,
    )
    assert card.status_code == 201
