"""On-site issuance: a blank card read at the kiosk becomes an applied card; the bank account is
opened and the card produced and issued in one transaction."""

from __future__ import annotations

from sqlalchemy import select

from server.extensions import db
from server.registry.models import CardEvent
from server.registry.rules import luhn_ok
from server.registry.service import decrypt_bank_account
from tests.kiosk.conftest import card_row, code_of


def events(app, card_id) -> list[str]:
    with app.app_context():
        rows = db.session.execute(
            select(CardEvent.action).where(CardEvent.card_id == card_id).order_by(CardEvent.id)
        ).scalars()
        out = list(rows)
        db.session.remove()
    return out


def issue(client, staff, card_id, serial):
    return client.post(
        f"/staff/v1/cards/{card_id}/issue-on-site", json={"serial": serial}, headers=staff.headers
    )


def test_an_applied_card_is_issued_on_site(app, client, branch, make_card):
    holder = make_card("applied")
    response = issue(client, branch, holder.card_id, "K00000001")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] == "issued" and body["serial"] == "K00000001"
    assert body["bank_account_masked"].startswith("6222")
    assert body["issued_on"] is not None and body["expires_on"] is not None
    assert events(app, holder.card_id) == ["apply", "produce", "issue"]
    with app.app_context():
        from server.registry.models import Card

        number = decrypt_bank_account(db.session.get(Card, holder.card_id))
        db.session.remove()
    assert len(number) == 19 and luhn_ok(number)
    assert app.extensions["ssc.bank"].balance(number) == 0  # opened at the bank

    # Then the holder sets a PIN with staff, as after any issuance.
    activated = client.post(
        f"/staff/v1/cards/{holder.card_id}/activate", json={"pin": "258036"}, headers=branch.headers
    )
    assert activated.status_code == 200 and activated.get_json()["state"] == "active"


def test_a_serial_already_in_use_is_refused_and_nothing_is_written(app, client, branch, make_card):
    taken = make_card("issued")
    holder = make_card("applied")
    response = issue(client, branch, holder.card_id, taken.serial)
    assert response.status_code == 409
    assert code_of(response) == "card.serial_taken"
    card = card_row(app, holder.card_id)
    assert card.state == "applied" and card.serial is None and card.bank_account_enc is None
    assert events(app, holder.card_id) == ["apply"]


def test_a_malformed_serial_is_refused(app, client, branch, make_card):
    holder = make_card("applied")
    response = issue(client, branch, holder.card_id, "k-1")
    assert response.status_code == 422
    assert code_of(response) == "request.validation_failed"
    assert card_row(app, holder.card_id).state == "applied"


def test_only_an_applied_card_is_issued_on_site(app, client, branch, make_card):
    holder = make_card("issued")
    response = issue(client, branch, holder.card_id, "K00000002")
    assert response.status_code == 409
    assert code_of(response) == "card.invalid_transition"
    assert card_row(app, holder.card_id).serial == holder.serial


def test_staff_of_another_city_cannot_issue_it(app, client, make_staff, make_card):
    holder = make_card("applied")
    foshan = make_staff("branch_staff", "440600")
    response = issue(client, foshan, holder.card_id, "K00000003")
    assert code_of(response) == "auth.out_of_scope"
    assert card_row(app, holder.card_id).state == "applied"
