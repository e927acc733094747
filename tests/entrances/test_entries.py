"""Entry at museum, library and scenic-spot entrances: card tap or QR code, opening hours, the
terminal's place, the entry-check hooks, and a record of every decision."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.credentials.codec import Scene
from server.entrances.models import EntryRecord
from server.entrances.service import register_entry_check
from server.errors import DomainError
from server.extensions import db
from server.registry.chip import ChipCard
from tests.entrances.conftest import NEVER
from tests.kiosk.conftest import card_row, code_of, post, tap


def records(app) -> list[EntryRecord]:
    with app.app_context():
        rows = list(db.session.execute(select(EntryRecord).order_by(EntryRecord.id)).scalars())
        db.session.expunge_all()
        db.session.remove()
    return rows


def enter(client, terminal, holder, entrance="GDMUSEUM-MAIN"):
    body = {"entrance": entrance, "card": tap(client, terminal, holder.chip)}
    return post(client, terminal, "/entries", body)


def test_an_elderly_holder_enters_the_museum_by_tap(app, client, kiosk, make_card, make_entrance):
    make_entrance(terminals=[kiosk])
    holder = make_card("active")
    response = enter(client, kiosk, holder)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["decision"] == "allowed"
    assert body["entrance"] == {
        "code": "GDMUSEUM-MAIN",
        "name_zh": "广东省博物馆 主入口",
        "name_en": "Guangdong Museum, main entrance",
    }
    assert body["holder"]["masked_name"] == "王*芳"
    assert body["holder"]["greeting_zh"].startswith("王*芳，")
    assert body["holder"]["greeting_zh"].endswith("好！欢迎参观。")
    assert "王*芳" in body["holder"]["greeting_en"]
    [record] = records(app)
    assert (record.id, record.decision, record.code, record.medium, record.card_id) == (
        body["entry_id"],
        "allowed",
        None,
        "card",
        holder.card_id,
    )
    assert card_row(app, holder.card_id).chip_counter == 1


@pytest.mark.parametrize("state", ["suspended", "sealed", "cancelled", "issued"])
def test_a_card_that_is_not_active_is_denied_and_recorded(
    app, client, kiosk, make_card, make_entrance, state
):
    make_entrance(terminals=[kiosk])
    holder = make_card(state)
    response = enter(client, kiosk, holder)
    assert response.status_code == 409
    assert code_of(response) == "card.not_active"
    assert response.get_json()["state"] == state
    [record] = records(app)
    assert (record.decision, record.code) == ("denied", "card.not_active")
    assert record.card_id == holder.card_id  # the MAC was right: staff can see which card
    assert card_row(app, holder.card_id).chip_counter == 0


def test_a_cloned_card_is_denied(app, client, kiosk, make_card, make_entrance, master):
    make_entrance(terminals=[kiosk])
    holder = make_card("active")
    assert enter(client, kiosk, holder).status_code == 201
    clone = ChipCard.issued(master, holder.serial)
    body = {"entrance": "GDMUSEUM-MAIN", "card": tap(client, kiosk, clone)}
    response = post(client, kiosk, "/entries", body)
    assert code_of(response) == "chip.counter_replayed"
    assert [(r.code, r.card_id) for r in records(app)] == [
        (None, holder.card_id),
        ("chip.counter_replayed", holder.card_id),  # the cloned card is named for investigation
    ]


def test_an_unknown_card_is_denied(app, client, kiosk, make_entrance, master):
    make_entrance(terminals=[kiosk])
    stranger = ChipCard.issued(master, "Z99999999")
    response = post(
        client,
        kiosk,
        "/entries",
        {"entrance": "GDMUSEUM-MAIN", "card": tap(client, kiosk, stranger)},
    )
    assert code_of(response) == "chip.unknown_card"
    assert [(r.code, r.card_id) for r in records(app)] == [("chip.unknown_card", None)]


def test_a_closed_entrance_denies_entry_without_touching_the_card(
    app, client, kiosk, make_card, make_entrance
):
    make_entrance(terminals=[kiosk], weekly=NEVER)
    holder = make_card("active")
    response = enter(client, kiosk, holder)
    assert response.status_code == 409
    assert code_of(response) == "entry.closed"
    assert "opens_at" not in response.get_json()  # closed every day: no next opening
    assert [(r.decision, r.code) for r in records(app)] == [("denied", "entry.closed")]
    assert card_row(app, holder.card_id).chip_counter == 0


def test_a_terminal_must_stand_at_the_entrance(
    app, client, kiosk, make_kiosk, make_card, make_entrance
):
    make_entrance(terminals=[make_kiosk()])
    holder = make_card("active")
    response = enter(client, kiosk, holder)
    assert response.status_code == 403
    assert code_of(response) == "entry.terminal_not_at_entrance"
    assert [r.code for r in records(app)] == ["entry.terminal_not_at_entrance"]


def test_an_unknown_entrance_is_denied(app, client, kiosk, make_card):
    holder = make_card("active")
    response = enter(client, kiosk, holder, entrance="NOWHERE-1")
    assert response.status_code == 404
    assert code_of(response) == "entry.unknown_entrance"
    assert [(r.entrance_id, r.code) for r in records(app)] == [(None, "entry.unknown_entrance")]


def test_a_reused_challenge_is_denied(app, client, kiosk, make_card, make_entrance):
    make_entrance(terminals=[kiosk])
    holder = make_card("active")
    body = {"entrance": "GDMUSEUM-MAIN", "card": tap(client, kiosk, holder.chip)}
    assert post(client, kiosk, "/entries", body).status_code == 201
    again = post(client, kiosk, "/entries", body)
    assert code_of(again) == "chip.challenge_used"


def test_a_tap_and_a_code_together_are_refused(client, kiosk, make_card, make_entrance):
    make_entrance(terminals=[kiosk])
    holder = make_card("active")
    body = {"entrance": "GDMUSEUM-MAIN", "card": tap(client, kiosk, holder.chip), "code": "SC1:X"}
    assert code_of(post(client, kiosk, "/entries", body)) == "request.validation_failed"


# --- QR codes --------------------------------------------------------------------------------


def test_a_qr_code_with_the_venue_scene_enters_the_museum(
    app, client, kiosk, make_entrance, make_passenger
):
    make_entrance(terminals=[kiosk])
    passenger = make_passenger(birth="19440916")
    code = passenger.code(scene=Scene.VENUE)
    response = post(client, kiosk, "/entries", {"entrance": "GDMUSEUM-MAIN", "code": code})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["holder"]["masked_name"] == "陈*"
    assert [(r.medium, r.card_id) for r in records(app)] == [("qr", passenger.card_id)]
    again = post(client, kiosk, "/entries", {"entrance": "GDMUSEUM-MAIN", "code": code})
    assert code_of(again) == "credential.replayed"
    assert (records(app)[-1].code, records(app)[-1].card_id) == (
        "credential.replayed",
        passenger.card_id,
    )


def test_a_transit_code_is_not_a_museum_ticket(app, client, kiosk, make_entrance, make_passenger):
    make_entrance(terminals=[kiosk])
    passenger = make_passenger()
    response = post(
        client, kiosk, "/entries", {"entrance": "GDMUSEUM-MAIN", "code": passenger.code()}
    )
    assert code_of(response) == "credential.wrong_scene"
    assert [r.code for r in records(app)] == ["credential.wrong_scene"]


def test_a_library_code_at_a_venue_gate_is_not_its_scene(
    app, client, make_kiosk, make_entrance, make_passenger
):
    gate = make_kiosk("venue_gate")
    make_entrance("GZLIB-MAIN", "library", terminals=[gate])
    passenger = make_passenger()
    response = post(
        client,
        gate,
        "/entries",
        {"entrance": "GZLIB-MAIN", "code": passenger.code(scene=Scene.LIBRARY)},
    )
    assert code_of(response) == "terminal.scene_not_allowed"


# --- entry-check hooks ---------------------------------------------------------------------------


def test_a_check_registered_for_a_kind_can_deny(app, client, kiosk, make_card, make_entrance):
    seen = []

    def reader_check(session, context):
        seen.append((context.entrance.code, context.card.id, context.medium))
        raise DomainError("card.not_active", state="no_reader_account")

    register_entry_check(app, "library", reader_check)
    make_entrance("GZLIB-MAIN", "library", terminals=[kiosk])
    make_entrance("GDMUSEUM-MAIN", "museum", terminals=[kiosk])
    holder = make_card("active")
    assert enter(client, kiosk, holder, "GDMUSEUM-MAIN").status_code == 201  # not a library
    response = enter(client, kiosk, holder, "GZLIB-MAIN")
    assert code_of(response) == "card.not_active"
    assert seen == [("GZLIB-MAIN", holder.card_id, "card")]
    assert [(r.decision, r.card_id) for r in records(app)] == [
        ("allowed", holder.card_id),
        ("denied", holder.card_id),
    ]


def test_records_hold_no_personal_data(app, client, kiosk, make_card, make_entrance):
    from tests.conftest import plaintext_hits

    make_entrance(terminals=[kiosk])
    holder = make_card("active")
    enter(client, kiosk, holder)
    with app.app_context():
        hits, _ = plaintext_hits(app, [holder.id_number, holder.serial])
    assert [h for h in hits if h[0] in ("entry_record", "card_challenge")] == []
