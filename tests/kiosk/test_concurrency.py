"""Races (PostgreSQL): one challenge presented five times at once, five wrong identity tries at
once, two staff claiming one help request at once."""

from __future__ import annotations

import threading

import pytest

from tests.kiosk.conftest import card_row, code_of, post, tap
from tests.kiosk.test_activation import started, wrong_last6

pytestmark = pytest.mark.postgres_only


def at_once(app, n: int, send) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            response = send(client, i)
            results[i] = (response.status_code, code_of(response))
        except Exception as exc:  # pragma: no cover - surfaced by the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_one_challenge_presented_five_times_at_once_passes_once(app, client, kiosk, make_card):
    holder = make_card("issued")
    card = tap(client, kiosk, holder.chip)
    results = at_once(app, 5, lambda c, i: post(c, kiosk, "/activations", {"card": card}))
    assert sorted(results, key=str) == sorted(
        [(201, None)] + [(409, "chip.challenge_used")] * 4, key=str
    )
    assert card_row(app, holder.card_id).chip_counter == card["counter"]


def test_five_wrong_identity_tries_at_once_lock_after_exactly_three(app, client, kiosk, make_card):
    holder = make_card("issued")
    ids = [started(client, kiosk, holder)["activation_id"] for _ in range(2)]
    wrong = wrong_last6(holder)

    def send(c, i):
        return post(c, kiosk, f"/activations/{ids[i % 2]}/identity", {"id_last6": wrong})

    results = at_once(app, 5, send)
    codes = sorted(code for _, code in results)
    assert codes.count("activation.identity_mismatch") == 2
    assert codes.count("card.pin_locked") + codes.count("activation.finished") == 3
    assert "card.pin_locked" in codes
    card = card_row(app, holder.card_id)
    assert card.pin_failed_tries == 3
    assert card.pin_locked_at is not None and card.state == "issued"


def test_two_staff_claiming_one_request_at_once_one_wins(app, client, kiosk, make_staff):
    response = post(client, kiosk, "/help-requests", {"topic": "other"})
    request_id = response.get_json()["id"]
    staff = [make_staff("branch_staff", "440100") for _ in range(2)]

    def send(c, i):
        return c.post(f"/staff/v1/help-requests/{request_id}/claim", headers=staff[i].headers)

    results = at_once(app, 2, send)
    assert sorted(results, key=str) == sorted([(200, None), (409, "help.already_claimed")], key=str)
