"""Self-service activation at a kiosk: tap an issued card, confirm the last 6 characters of the ID
number, set a PIN twice. Every card-tap refusal, every activation refusal, and nothing half-written
on any of them."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.extensions import db
from server.kiosk import service
from server.kiosk.models import ActivationSession, CardChallenge
from server.registry.chip import ChipCard
from server.registry.models import CardEvent
from server.terminals.models import Terminal
from tests.kiosk.conftest import card_row, challenge, code_of, count, post, tap


def start(client, kiosk, holder):
    return post(client, kiosk, "/activations", {"card": tap(client, kiosk, holder.chip)})


def started(client, kiosk, holder) -> dict:
    response = start(client, kiosk, holder)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def identity(client, kiosk, activation_id, last6):
    return post(client, kiosk, f"/activations/{activation_id}/identity", {"id_last6": last6})


def set_pin(client, kiosk, activation_id, pin, confirm=None):
    body = {"pin": pin, "pin_confirm": pin if confirm is None else confirm}
    return post(client, kiosk, f"/activations/{activation_id}/pin", body)


def wrong_last6(holder) -> str:
    right = holder.id_number[-6:]
    return "000000" if right != "000000" else "111111"


# --- the whole flow ------------------------------------------------------------------------------


def test_an_issued_card_is_activated_at_the_kiosk_end_to_end(app, client, kiosk, make_card):
    holder = make_card("issued")
    body = started(client, kiosk, holder)
    assert len(body["activation_id"]) >= 32
    assert body["masked_name"] == "王*芳"
    assert body["tries_left"] == 3

    response = identity(client, kiosk, body["activation_id"], holder.id_number[-6:])
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"identity_ok": True}

    response = set_pin(client, kiosk, body["activation_id"], "258036")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"state": "active", "masked_name": "王*芳"}

    card = card_row(app, holder.card_id)
    assert card.state == "active" and card.pin_hash is not None
    assert card.chip_counter == 1
    with app.app_context():
        events = db.session.execute(
            select(CardEvent.action, CardEvent.actor_kind).where(
                CardEvent.card_id == holder.card_id
            )
        ).all()
        session_row = db.session.execute(select(ActivationSession)).scalar_one()
        db.session.remove()
    assert ("activate", "terminal") in events
    assert session_row.outcome == "activated" and session_row.finished_at is not None
    # The opaque id is stored only hashed.
    assert body["activation_id"].encode() not in bytes(session_row.handle_hash)

    # The finished activation cannot be used again.
    again = set_pin(client, kiosk, body["activation_id"], "258036")
    assert code_of(again) == "activation.finished"


def test_the_holder_can_then_verify_the_new_pin_at_the_counter(
    app, client, kiosk, make_card, branch
):
    holder = make_card("issued")
    body = started(client, kiosk, holder)
    identity(client, kiosk, body["activation_id"], holder.id_number[-6:])
    set_pin(client, kiosk, body["activation_id"], "258036")
    response = client.post(
        f"/staff/v1/cards/{holder.card_id}/pin/verify",
        json={"pin": "258036"},
        headers=branch.headers,
    )
    assert response.status_code == 200 and response.get_json()["ok"] is True


def test_an_x_check_character_matches_in_either_case(app, client, kiosk, make_card):
    from server.registry.rules import check_digit

    birth = next(
        f"194203{d:02d}" for d in range(1, 29) if check_digit(f"440104194203{d:02d}041") == "X"
    )
    holder = make_card("issued", birth=birth)
    assert holder.id_number.endswith("X")
    body = started(client, kiosk, holder)
    response = identity(client, kiosk, body["activation_id"], holder.id_number[-6:].lower())
    assert response.status_code == 200, response.get_json()


# --- card-tap refusals ---------------------------------------------------------------------------


def assert_nothing_started(app, holder) -> None:
    assert count(app, ActivationSession) == 0
    card = card_row(app, holder.card_id) if holder.card_id else None
    if card is not None:
        assert card.state != "active"


def test_an_unknown_card_is_refused(app, client, kiosk, master):
    stranger = ChipCard.issued(master, "Z99999999")
    response = post(client, kiosk, "/activations", {"card": tap(client, kiosk, stranger)})
    assert response.status_code == 404
    assert code_of(response) == "chip.unknown_card"
    assert count(app, ActivationSession) == 0


@pytest.mark.parametrize("state", ["sealed", "suspended", "cancelled", "produced"])
def test_a_card_that_is_not_issued_is_refused_with_its_state(app, client, kiosk, make_card, state):
    holder = make_card(state)
    response = start(client, kiosk, holder)
    assert response.status_code == 409
    assert code_of(response) == "card.not_active"
    assert response.get_json()["state"] == state
    assert count(app, ActivationSession) == 0
    assert card_row(app, holder.card_id).chip_counter == 0  # nothing written


def test_an_active_card_needs_no_activation(app, client, kiosk, make_card):
    holder = make_card("active")
    response = start(client, kiosk, holder)
    assert code_of(response) == "activation.already_active"
    assert count(app, ActivationSession) == 0


def test_a_card_whose_counter_went_backwards_is_a_clone(app, client, kiosk, make_card, master):
    holder = make_card("issued")
    started(client, kiosk, holder)  # the real card: counter 1
    holder.chip.tap(bytes(8))  # … and it has been used since (counter 2)
    clone = ChipCard.issued(master, holder.serial, counter=0)  # a copy from the same key
    response = post(client, kiosk, "/activations", {"card": tap(client, kiosk, clone)})
    assert response.status_code == 409
    assert code_of(response) == "chip.counter_replayed"
    assert count(app, ActivationSession) == 1
    assert card_row(app, holder.card_id).chip_counter == 1


def test_a_bad_mac_is_refused_and_still_uses_up_the_challenge(app, client, kiosk, make_card):
    holder = make_card("issued")
    card = tap(client, kiosk, holder.chip)
    forged = dict(card, mac="00" * 8)
    response = post(client, kiosk, "/activations", {"card": forged})
    assert response.status_code == 403
    assert code_of(response) == "chip.bad_mac"
    with app.app_context():
        row = db.session.execute(select(CardChallenge)).scalar_one()
        db.session.remove()
    assert row.used_at is not None
    response = post(client, kiosk, "/activations", {"card": card})  # the genuine answer, too late
    assert code_of(response) == "chip.challenge_used"
    assert count(app, ActivationSession) == 0
    assert card_row(app, holder.card_id).chip_counter == 0


def test_a_challenge_is_single_use(app, client, kiosk, make_card):
    holder = make_card("issued")
    issued = challenge(client, kiosk)
    first = post(client, kiosk, "/activations", {"card": tap(client, kiosk, holder.chip, issued)})
    assert first.status_code == 201
    again = post(client, kiosk, "/activations", {"card": tap(client, kiosk, holder.chip, issued)})
    assert again.status_code == 409
    assert code_of(again) == "chip.challenge_used"
    assert count(app, ActivationSession) == 1


def test_a_challenge_is_bound_to_the_terminal_that_asked_for_it(
    app, client, kiosk, make_kiosk, make_card
):
    holder = make_card("issued")
    other = make_kiosk()
    card = tap(client, kiosk, holder.chip)
    response = post(client, other, "/activations", {"card": card})
    assert response.status_code == 404
    assert code_of(response) == "chip.challenge_unknown"
    # Still usable by its own terminal.
    assert post(client, kiosk, "/activations", {"card": card}).status_code == 201


def test_an_unknown_challenge_id_is_refused(app, client, kiosk, make_card):
    holder = make_card("issued")
    card = dict(tap(client, kiosk, holder.chip), challenge_id="x" * 43)
    assert code_of(post(client, kiosk, "/activations", {"card": card})) == "chip.challenge_unknown"


def test_a_challenge_expires(app, session, kiosk, now):
    terminal = session.get(Terminal, kiosk.id)
    issued = service.issue_challenge(session, terminal, now)
    assert issued.expires_at == now + timedelta(seconds=60)
    with pytest.raises(Exception) as caught:
        service.consume_challenge(
            session, kiosk.id, issued.challenge_id, now + timedelta(seconds=60)
        )
    assert caught.value.code == "chip.challenge_expired"
    assert (
        service.consume_challenge(
            session, kiosk.id, issued.challenge_id, now + timedelta(seconds=59)
        )
        == issued.challenge
    )


def test_a_challenge_has_the_published_shape(client, kiosk):
    body = challenge(client, kiosk)
    assert len(bytes.fromhex(body["challenge"])) == 8
    assert len(body["challenge_id"]) >= 32
    assert body["expires_at"].endswith(("Z", "+00:00"))


def test_only_a_kiosk_activates_cards(app, client, make_kiosk, make_card):
    gate = make_kiosk("venue_gate")
    holder = make_card("issued")
    response = start(client, gate, holder)
    assert response.status_code == 403
    assert code_of(response) == "terminal.scene_not_allowed"
    assert count(app, ActivationSession) == 0


# --- identity --------------------------------------------------------------------------------


def test_wrong_identity_digits_count_down_and_the_third_try_locks(app, client, kiosk, make_card):
    holder = make_card("issued")
    body = started(client, kiosk, holder)
    aid = body["activation_id"]
    first = identity(client, kiosk, aid, wrong_last6(holder))
    assert first.status_code == 422
    assert code_of(first) == "activation.identity_mismatch"
    assert first.get_json()["tries_left"] == 2
    assert card_row(app, holder.card_id).pin_failed_tries == 1  # committed before the refusal
    second = identity(client, kiosk, aid, wrong_last6(holder))
    assert second.get_json()["tries_left"] == 1
    third = identity(client, kiosk, aid, wrong_last6(holder))
    assert third.status_code == 423
    assert code_of(third) == "card.pin_locked"
    card = card_row(app, holder.card_id)
    assert card.pin_failed_tries == 3 and card.pin_locked_at is not None
    assert card.state == "issued"

    # The session is over, and a new one cannot start: staff must help.
    assert code_of(identity(client, kiosk, aid, holder.id_number[-6:])) == "activation.finished"
    assert code_of(start(client, kiosk, holder)) == "card.pin_locked"


def test_staff_activation_at_the_counter_clears_the_lock(app, client, kiosk, make_card, branch):
    holder = make_card("issued")
    aid = started(client, kiosk, holder)["activation_id"]
    for _ in range(3):
        identity(client, kiosk, aid, wrong_last6(holder))
    response = client.post(
        f"/staff/v1/cards/{holder.card_id}/activate", json={"pin": "258036"}, headers=branch.headers
    )
    assert response.status_code == 200, response.get_json()
    card = card_row(app, holder.card_id)
    assert card.state == "active" and card.pin_locked_at is None and card.pin_failed_tries == 0


def test_wrong_tries_carry_over_to_a_new_session(app, client, kiosk, make_card):
    holder = make_card("issued")
    aid = started(client, kiosk, holder)["activation_id"]
    identity(client, kiosk, aid, wrong_last6(holder))
    assert started(client, kiosk, holder)["tries_left"] == 2


def test_a_pin_needs_the_identity_first(app, client, kiosk, make_card):
    holder = make_card("issued")
    aid = started(client, kiosk, holder)["activation_id"]
    response = set_pin(client, kiosk, aid, "258036")
    assert response.status_code == 409
    assert code_of(response) == "activation.identity_required"
    assert card_row(app, holder.card_id).state == "issued"


# --- PIN -------------------------------------------------------------------------------------


def ready(client, kiosk, holder) -> str:
    aid = started(client, kiosk, holder)["activation_id"]
    assert identity(client, kiosk, aid, holder.id_number[-6:]).status_code == 200
    return aid


def test_a_pin_and_a_different_confirmation_are_refused(app, client, kiosk, make_card):
    holder = make_card("issued")
    aid = ready(client, kiosk, holder)
    response = set_pin(client, kiosk, aid, "258036", "258037")
    assert response.status_code == 422
    assert code_of(response) == "activation.pin_mismatch"
    card = card_row(app, holder.card_id)
    assert card.state == "issued" and card.pin_hash is None
    # The session goes on: the holder types it again.
    assert set_pin(client, kiosk, aid, "258036").status_code == 200


@pytest.mark.parametrize(
    ("pin", "problem"), [("000000", "repeated"), ("123456", "sequence"), ("420308", "birth_date")]
)
def test_a_weak_pin_is_refused_with_its_problems(app, client, kiosk, make_card, pin, problem):
    holder = make_card("issued")  # born 1942-03-08
    aid = ready(client, kiosk, holder)
    response = set_pin(client, kiosk, aid, pin)
    assert response.status_code == 422
    assert code_of(response) == "card.pin_weak"
    assert problem in response.get_json()["problems"]
    card = card_row(app, holder.card_id)
    assert card.state == "issued" and card.pin_hash is None
    with app.app_context():
        assert (
            db.session.execute(
                select(CardEvent.id).where(
                    CardEvent.card_id == holder.card_id, CardEvent.action == "activate"
                )
            ).first()
            is None
        )
        db.session.remove()


def test_an_activation_expires(app, session, kiosk, make_card, master, now):
    from server.kiosk.service import CardTap

    holder = make_card("issued")
    terminal = session.get(Terminal, kiosk.id)
    issued = service.issue_challenge(session, terminal, now)
    counter, mac = holder.chip.answer(issued.challenge)
    begun = service.start_activation(
        session, terminal, CardTap(issued.challenge_id, holder.serial, counter, mac), now
    )
    later = now + timedelta(seconds=300)
    with pytest.raises(Exception) as caught:
        service.confirm_identity(
            session, terminal, begun.activation_id, holder.id_number[-6:], later
        )
    assert caught.value.code == "activation.expired"
    session.rollback()
    assert card_row(app, holder.card_id).pin_failed_tries == 0


def test_an_activation_belongs_to_its_kiosk(app, client, kiosk, make_kiosk, make_card):
    holder = make_card("issued")
    aid = started(client, kiosk, holder)["activation_id"]
    other = make_kiosk()
    response = identity(client, other, aid, holder.id_number[-6:])
    assert response.status_code == 404
    assert code_of(response) == "activation.unknown"
    assert code_of(identity(client, kiosk, "nope", holder.id_number[-6:])) == "activation.unknown"


def test_the_activation_handle_never_reaches_the_access_log(client, kiosk, make_card, caplog):
    holder = make_card("issued")
    body = started(client, kiosk, holder)
    caplog.set_level(logging.INFO, logger="server.access")

    identity(client, kiosk, body["activation_id"], holder.id_number[-6:])

    paths = [r.path for r in caplog.records if r.name == "server.access"]
    assert "/terminal/v1/activations/<activation_id>/identity" in paths
    assert not any(body["activation_id"] in path for path in paths)
