"""Paying for rides: collecting fares from the bank, debts, the deny list, repaying."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from server.clock import utcnow
from server.credentials import service as credentials
from server.credentials.codec import Certificate, Scene, encode, make_presentation
from server.errors import DomainError
from server.extensions import db
from server.ledger.models import Account, JournalEntry
from server.ledger.service import find_card_account
from server.registry import service as registry
from server.registry.rules import CardAction
from server.security.models import AuditEvent
from server.transit import payment
from server.transit.models import Debt, Trip
from tests.transit.conftest import collect


@pytest.fixture(autouse=True)
def _books_balance(ledger_balances):
    yield
    ledger_balances()


def trip_row(app, trip_id) -> Trip:
    with app.app_context():
        trip = db.session.get(Trip, trip_id)
        db.session.expunge(trip)
        db.session.remove()
        return trip


def balance(app, kind, owner_ref=None) -> int | None:
    with app.app_context():
        stmt = select(Account.balance_fen).where(Account.kind == kind)
        if owner_ref is not None:
            stmt = stmt.where(Account.owner_ref == owner_ref)
        value = db.session.execute(stmt).scalar_one_or_none()
        db.session.remove()
        return value


def entries(app) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
        db.session.remove()
        return n


def code_text(signed, phone, counter=1) -> str:
    cert = Certificate.from_bytes(base64.b64decode(signed["certificate"]["certificate"]))
    return encode(make_presentation(cert, phone.key, Scene.TRANSIT, utcnow(), counter))


def verify_refusal(app, text) -> DomainError | None:
    with app.app_context():
        try:
            credentials.verify_online(
                db.session, text=text, scene=Scene.TRANSIT, terminal_id=None, now=utcnow()
            )
        except DomainError as exc:
            return exc
        finally:
            db.session.remove()
    return None


def listing(app, card_id) -> str | None:
    with app.app_context():
        reason = credentials.pseudonym_listing(db.session, card_id, utcnow())
        db.session.remove()
        return reason


def audit_actions(app) -> list[str]:
    with app.app_context():
        stmt = select(AuditEvent.action).order_by(AuditEvent.seq)
        actions = list(db.session.execute(stmt).scalars())
        db.session.remove()
        return actions


# --- collecting ----------------------------------------------------------------------------------


def test_a_fare_is_debited_from_the_bank_and_posted_to_the_operator(
    app, holder, bank_account, sim_bank, make_trip
):
    number = bank_account(holder.card_id, 10_000)
    trip_id = make_trip(holder.card_id, base=700, concession=0, charged=700)

    outcome = collect(app, trip_id)

    assert outcome.status == "paid"
    assert sim_bank.balance(number) == 9_300
    trip = trip_row(app, trip_id)
    assert trip.payment_status == "paid"
    assert trip.journal_entry_id == outcome.journal_entry_id
    assert balance(app, "operator_settlement", "gzmetro") == 700
    assert balance(app, "bank_clearing") == -700
    with app.app_context():
        entry = db.session.get(JournalEntry, outcome.journal_entry_id)
        assert entry.idempotency_key == f"trip:{trip_id}"
        assert sorted(line.amount_fen for line in entry.lines) == [-700, 700]
        # The card's own account does not figure: fares come straight from the bank account.
        card_account = find_card_account(db.session, holder.card_id)
        assert card_account is None or card_account.balance_fen == 0
        db.session.remove()


def test_collecting_twice_moves_money_once(app, holder, bank_account, sim_bank, make_trip):
    number = bank_account(holder.card_id, 10_000)
    trip_id = make_trip(holder.card_id, base=400)
    assert collect(app, trip_id).status == "paid"
    assert collect(app, trip_id).status == "skipped"
    assert sim_bank.balance(number) == 9_600
    assert entries(app) == 1


def test_a_free_ride_is_paid_without_moving_money(app, holder, bank_account, sim_bank, make_trip):
    number = bank_account(holder.card_id, 10_000)
    trip_id = make_trip(holder.card_id, base=400, concession=400, charged=0)

    outcome = collect(app, trip_id)

    assert outcome.status == "paid"
    assert trip_row(app, trip_id).payment_status == "paid"
    assert trip_row(app, trip_id).journal_entry_id is None
    assert sim_bank.balance(number) == 10_000
    assert sim_bank.movements == 0
    assert entries(app) == 0


@pytest.mark.parametrize("failure", ["timeout", "timeout_before"])
def test_a_bank_timeout_leaves_the_trip_pending_and_the_retry_debits_once(
    app, holder, bank_account, sim_bank, make_trip, failure
):
    number = bank_account(holder.card_id, 10_000)
    trip_id = make_trip(holder.card_id, base=500)
    sim_bank.fail_next(failure)

    asked = utcnow()
    first = collect(app, trip_id, asked)
    assert (first.status, first.code) == ("pending", "bank.timeout")
    row = trip_row(app, trip_id)
    assert (row.payment_status, row.collection_attempted_at) == ("pending", asked)
    assert entries(app) == 0

    # Not asked again at once (the first call may still be on its way); the job's next run after
    # SSC_TRANSIT_COLLECT_RETRY_S asks with the same key.
    soon = collect(app, trip_id, asked + timedelta(seconds=299))
    assert (soon.status, soon.code) == ("pending", "transit.collection_in_progress")
    with app.app_context():
        assert payment.collect_pending(db.session, asked + timedelta(seconds=299)).outcomes == []
        db.session.remove()
    assert sim_bank.movements == (1 if failure == "timeout" else 0)

    with app.app_context():
        summary = payment.collect_pending(db.session, asked + timedelta(seconds=300))
        db.session.remove()
    [second] = summary.outcomes
    assert (second.trip_id, second.status) == (trip_id, "paid")
    assert sim_bank.balance(number) == 9_500  # one debit, whether or not the first went through
    assert sim_bank.movements == 1
    assert entries(app) == 1
    assert balance(app, "operator_settlement", "gzmetro") == 500


@pytest.mark.parametrize(
    ("state", "code"),
    [("closed", "bank.account_closed"), ("frozen", "bank.account_frozen")],
)
def test_a_refused_debit_turns_the_fare_into_a_debt(
    app, holder, bank_account, sim_bank, make_trip, state, code
):
    number = bank_account(holder.card_id, 10_000)
    sim_bank.set_account_state(number, state)
    trip_id = make_trip(holder.card_id, base=400)

    outcome = collect(app, trip_id)

    assert (outcome.status, outcome.code) == ("debt", code)
    assert trip_row(app, trip_id).payment_status == "debt"
    with app.app_context():
        debt = db.session.execute(select(Debt).where(Debt.trip_id == trip_id)).scalar_one()
        assert (debt.amount_fen, debt.reason, debt.repaid_at) == (400, code, None)
        db.session.remove()
    assert entries(app) == 0
    assert listing(app, holder.card_id) is None  # ¥4 is under the ¥50 limit


def test_insufficient_funds_is_a_debt(app, holder, bank_account, make_trip):
    bank_account(holder.card_id, 100)
    trip_id = make_trip(holder.card_id, base=400)
    outcome = collect(app, trip_id)
    assert (outcome.status, outcome.code) == ("debt", "bank.insufficient_funds")


def test_the_collection_job_collects_every_pending_trip(
    app, make_holder, bank_account, sim_bank, make_trip
):
    rich, poor = make_holder(), make_holder()
    bank_account(rich.card_id, 10_000)
    bank_account(poor.card_id, 0)
    paid = [make_trip(rich.card_id, base=300) for _ in range(3)]
    free = make_trip(rich.card_id, base=300, concession=300)
    owed = make_trip(poor.card_id, base=300)
    done = make_trip(rich.card_id, base=300, payment_status="paid")

    with app.app_context():
        summary = payment.collect_pending(db.session, utcnow(), limit=100)
        db.session.remove()

    assert summary.as_dict() == {"paid": 4, "debt": 1, "pending": 0, "skipped": 0}
    assert {o.trip_id for o in summary.outcomes} == {*paid, free, owed}
    assert trip_row(app, done).journal_entry_id is None
    assert balance(app, "operator_settlement", "gzmetro") == 900
    assert sim_bank.movements == 3


# --- debts and the deny list ---------------------------------------------------------------------


def run_into_debt(app, holder, bank_account, sim_bank, make_trip, *, fares=(3000, 2500)):
    number = bank_account(holder.card_id, 0)
    ids = [make_trip(holder.card_id, base=fare) for fare in fares]
    for trip_id in ids:
        assert collect(app, trip_id).status == "debt"
    return number, ids


def test_debt_over_the_limit_refuses_the_cards_codes_with_reason_debt(
    app, holder, signed, phone, bank_account, sim_bank, make_trip
):
    assert verify_refusal(app, code_text(signed, phone, counter=1)) is None
    number = bank_account(holder.card_id, 0)

    first = make_trip(holder.card_id, base=3000)
    collect(app, first)
    assert listing(app, holder.card_id) is None  # ¥30: not over ¥50 yet
    assert verify_refusal(app, code_text(signed, phone, counter=2)) is None

    second = make_trip(holder.card_id, base=2500)
    collect(app, second)  # ¥55 owed

    refusal = verify_refusal(app, code_text(signed, phone, counter=3))
    assert refusal is not None
    assert refusal.code == "credential.revoked"
    assert refusal.extra["reason"] == "debt"
    assert listing(app, holder.card_id) == "debt"
    assert "transit.card_denied" in audit_actions(app)
    assert sim_bank.balance(number) == 0


def test_the_limit_is_configurable(app, holder, bank_account, sim_bank, make_trip):
    app.config["SSC_TRANSIT_DEBT_LIMIT_FEN"] = 100
    run_into_debt(app, holder, bank_account, sim_bank, make_trip, fares=(200,))
    assert listing(app, holder.card_id) == "debt"


def test_repaying_lifts_the_debt_listing(
    app, client, holder, signed, phone, bank_account, sim_bank, make_trip
):
    number, ids = run_into_debt(app, holder, bank_account, sim_bank, make_trip)
    assert client.get("/mobile/v1/transit/debt", headers=holder.headers).get_json() | {
        "debts": None
    } == {
        "outstanding_fen": 5500,
        "limit_fen": 5000,
        "denied": True,
        "debts": None,
        "repayment_pending_since": None,
        "repayment_pending_since_local": None,
    }
    sim_bank.open_account(number, 10_000)  # the holder paid money in

    response = client.post("/mobile/v1/transit/repay", headers=holder.headers)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["repaid_fen"], body["debts"], body["unlisted"]) == (5500, 2, True)
    assert sim_bank.balance(number) == 4_500
    assert listing(app, holder.card_id) is None
    assert verify_refusal(app, code_text(signed, phone, counter=9)) is None
    assert [trip_row(app, i).payment_status for i in ids] == ["paid", "paid"]
    assert balance(app, "operator_settlement", "gzmetro") == 5500
    assert balance(app, "bank_clearing") == -5500
    with app.app_context():
        debts = db.session.execute(select(Debt)).scalars().all()
        assert {d.repaid_at is not None for d in debts} == {True}
        assert {d.journal_entry_id for d in debts} == {body["journal_entry_id"]}
        db.session.remove()
    assert "transit.card_allowed" in audit_actions(app)
    debt = client.get("/mobile/v1/transit/debt", headers=holder.headers).get_json()
    assert (debt["outstanding_fen"], debt["denied"], debt["debts"]) == (0, False, [])


def test_repaying_without_debt_is_refused(client, holder):
    response = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert response.status_code == 409
    assert response.get_json()["code"] == "transit.no_debt"


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        ("insufficient_funds", 409, "bank.insufficient_funds"),
        ("account_frozen", 409, "bank.account_frozen"),
        ("timeout", 504, "bank.timeout"),
        ("timeout_before", 504, "bank.timeout"),
    ],
)
def test_a_bank_failure_during_repayment_moves_no_money_and_the_retry_repays_once(
    app, client, holder, bank_account, sim_bank, make_trip, failure, status, code
):
    number, _ = run_into_debt(app, holder, bank_account, sim_bank, make_trip)
    sim_bank.open_account(number, 10_000)
    before = entries(app)
    sim_bank.fail_next(failure)

    response = client.post("/mobile/v1/transit/repay", headers=holder.headers)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == code
    assert entries(app) == before
    assert listing(app, holder.card_id) == "debt"
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).select_from(Debt).where(Debt.repaid_at.is_(None))
            ).scalar_one()
            == 2
        )
        db.session.remove()

    # The retry succeeds and the bank is debited exactly once in all. A refused attempt is over:
    # asked again at once under a new key. A timeout that went through is recorded from the
    # bank's answer for its key; one that never arrived is asked again under the same key once
    # SSC_TRANSIT_COLLECT_RETRY_S has passed (it might still be on its way before that).
    retry = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    if failure == "timeout_before":
        assert (retry.status_code, retry.get_json()["code"]) == (
            409,
            "transit.repayment_in_progress",
        )
        assert sim_bank.movements == 0
        with time_machine.travel(utcnow() + timedelta(seconds=301), tick=False):
            retry = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert retry.status_code == 200, retry.get_json()
    assert retry.get_json()["repaid_fen"] == 5_500
    assert sim_bank.balance(number) == 10_000 - 5_500
    assert sim_bank.movements == 1
    assert listing(app, holder.card_id) is None


def test_a_debt_added_while_a_repayment_went_unanswered_waits_for_the_next_one(
    app, client, holder, bank_account, sim_bank, make_trip
):
    """The retry of an unanswered repayment asks for the same debts under the same key (the bank
    may have taken them already); a fare that became a debt meanwhile is not in it, and while it
    alone keeps the holder over the limit the card stays listed."""
    number, _ = run_into_debt(app, holder, bank_account, sim_bank, make_trip)  # ¥30 + ¥25
    sim_bank.open_account(number, 20_000)
    sim_bank.fail_next("timeout_before")
    first = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert (first.status_code, first.get_json()["code"]) == (504, "bank.timeout")

    view = client.get("/mobile/v1/transit/debt", headers=holder.headers).get_json()
    assert view["repayment_pending_since"] is not None  # the phone shows 银行处理中
    assert view["outstanding_fen"] == 5_500

    coach = make_trip(holder.card_id, base=6000)  # an intercity coach the bank refuses
    sim_bank.fail_next("insufficient_funds")
    assert collect(app, coach).status == "debt"

    with time_machine.travel(utcnow() + timedelta(seconds=301), tick=False):
        retry = client.post("/mobile/v1/transit/repay", headers=holder.headers)
        assert retry.status_code == 200, retry.get_json()
        assert (retry.get_json()["repaid_fen"], retry.get_json()["debts"]) == (5_500, 2)
        assert retry.get_json()["unlisted"] is False
        assert listing(app, holder.card_id) == "debt"  # still owes ¥60, over the ¥50 limit

        last = client.post("/mobile/v1/transit/repay", headers=holder.headers)
        assert last.status_code == 200, last.get_json()
        assert (last.get_json()["repaid_fen"], last.get_json()["unlisted"]) == (6_000, True)
    assert sim_bank.balance(number) == 20_000 - 11_500
    assert sim_bank.movements == 2
    assert listing(app, holder.card_id) is None
    view = client.get("/mobile/v1/transit/debt", headers=holder.headers).get_json()
    assert (view["outstanding_fen"], view["repayment_pending_since"]) == (0, None)


def test_a_refused_repayment_is_over_and_the_next_asks_under_a_new_key(
    app, client, holder, bank_account, sim_bank, make_trip
):
    number, _ = run_into_debt(app, holder, bank_account, sim_bank, make_trip)
    sim_bank.open_account(number, 5_000)  # not enough for ¥55
    refused = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert (refused.status_code, refused.get_json()["code"]) == (409, "bank.insufficient_funds")
    with app.app_context():
        stamps = db.session.execute(select(Debt.repay_key, Debt.repay_attempted_at)).all()
        db.session.remove()
    assert set(stamps) == {(None, None)}

    sim_bank.open_account(number, 10_000)
    repaid = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert repaid.status_code == 200, repaid.get_json()
    assert sim_bank.balance(number) == 10_000 - 5_500


def test_repaying_does_not_lift_a_lost_card_listing(
    app, client, holder, signed, phone, bank_account, sim_bank, make_trip, branch
):
    number, _ = run_into_debt(app, holder, bank_account, sim_bank, make_trip)
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=holder.headers)
    assert lost.status_code == 200, lost.get_json()
    assert listing(app, holder.card_id) == "lost"
    sim_bank.open_account(number, 10_000)

    response = client.post("/mobile/v1/transit/repay", headers=holder.headers)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["unlisted"] is False
    assert listing(app, holder.card_id) == "lost"
    refusal = verify_refusal(app, code_text(signed, phone, counter=5))
    assert refusal is not None and refusal.code == "credential.revoked"

    # Found again, with nothing owed: off the list.
    with app.app_context():
        registry.change_state(
            db.session, branch.actor, holder.card_id, CardAction.REPORT_FOUND, utcnow(), "找到"
        )
        db.session.remove()
    assert listing(app, holder.card_id) is None


def test_a_found_card_with_unpaid_debt_stays_listed_for_debt(
    app, client, holder, signed, bank_account, sim_bank, make_trip, branch
):
    lost = client.post("/mobile/v1/card/report-loss", json={}, headers=holder.headers)
    assert lost.status_code == 200
    run_into_debt(app, holder, bank_account, sim_bank, make_trip)
    assert listing(app, holder.card_id) == "lost"  # the first listing keeps its reason

    with app.app_context():
        registry.change_state(
            db.session, branch.actor, holder.card_id, CardAction.REPORT_FOUND, utcnow(), "找到"
        )
        db.session.remove()

    assert listing(app, holder.card_id) == "debt"
    response = client.post("/mobile/v1/transit/repay", headers=holder.headers)
    assert response.status_code == 409  # the bank account is empty
    assert response.get_json()["code"] == "bank.insufficient_funds"


def test_the_revocation_list_for_terminals_carries_the_debt_reason(
    app, holder, signed, bank_account, sim_bank, make_trip
):
    run_into_debt(app, holder, bank_account, sim_bank, make_trip)
    with app.app_context():
        document = credentials.revocation_list_document(db.session, None, utcnow())
        pseudonym = credentials.card_pseudonym(db.session, holder.card_id, utcnow()).hex()
        db.session.remove()
    assert {"pseudonym": pseudonym, "reason": "debt"} in document["add"]["pseudonyms"]


def test_debts_of_a_card_without_an_e_card_still_list_its_pseudonym(
    app, holder, bank_account, sim_bank, make_trip
):
    run_into_debt(app, holder, bank_account, sim_bank, make_trip)
    assert listing(app, holder.card_id) == "debt"


def test_a_debt_listing_does_not_expire(app, holder, bank_account, sim_bank, make_trip):
    run_into_debt(app, holder, bank_account, sim_bank, make_trip)
    with app.app_context():
        later = utcnow() + timedelta(days=365)
        assert credentials.pseudonym_listing(db.session, holder.card_id, later) == "debt"
        db.session.remove()


# --- exactly once under concurrency --------------------------------------------------------------


@pytest.mark.postgres_only
def test_two_workers_collecting_the_same_trip_charge_it_once(
    app, holder, bank_account, sim_bank, make_trip
):
    import threading

    number = bank_account(holder.card_id, 10_000)
    trip_ids = [make_trip(holder.card_id, base=300) for _ in range(5)]
    barrier = threading.Barrier(2)
    outcomes: list = []
    errors: list = []

    def worker() -> None:
        try:
            barrier.wait()
            for trip_id in trip_ids:
                outcomes.append(collect(app, trip_id))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    paid = sorted(o.trip_id for o in outcomes if o.status == "paid")
    assert paid == trip_ids
    # The other worker found each trip either collected or with the bank being asked right then.
    others = {(o.status, o.code) for o in outcomes if o.status != "paid"}
    assert others <= {("skipped", None), ("pending", "transit.collection_in_progress")}
    assert len(outcomes) == 10
    assert sim_bank.balance(number) == 10_000 - 5 * 300
    assert sim_bank.movements == 5
    assert entries(app) == 5
    assert balance(app, "operator_settlement", "gzmetro") == 1500
    with app.app_context():
        n = db.session.execute(
            select(func.count()).select_from(Account).where(Account.kind == "bank_clearing")
        ).scalar_one()
        db.session.remove()
    assert n == 1


@pytest.mark.postgres_only
def test_two_repayments_at_once_debit_once(app, client, holder, bank_account, sim_bank, make_trip):
    import threading

    number, _ = run_into_debt(app, holder, bank_account, sim_bank, make_trip)
    sim_bank.open_account(number, 10_000)
    barrier = threading.Barrier(2)
    answers: list = []

    def worker() -> None:
        c = app.test_client()
        barrier.wait()
        response = c.post("/mobile/v1/transit/repay", headers=holder.headers)
        answers.append((response.status_code, response.get_json() or {}))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    # One repayment. The other request found it recorded (no debt left), the first one's bank
    # call still out (in progress), or the bank's record of it and answered with the same entry.
    assert sim_bank.balance(number) == 10_000 - 5_500
    assert sim_bank.movements == 1
    repaid = [body for status, body in answers if status == 200]
    assert repaid and {b["repaid_fen"] for b in repaid} == {5_500}
    assert len({b["journal_entry_id"] for b in repaid}) == 1
    others = {body["code"] for status, body in answers if status != 200}
    assert others <= {"transit.no_debt", "transit.repayment_in_progress"}
    assert len(answers) == 2


def test_flask_transit_collect_runs_the_job(app, runner, holder, bank_account, sim_bank, make_trip):
    import json

    number = bank_account(holder.card_id, 1_000)
    make_trip(holder.card_id, base=400)
    make_trip(holder.card_id, base=400)
    make_trip(holder.card_id, base=400)  # the bank account runs dry: a debt

    result = runner.invoke(args=["transit", "collect", "--limit", "10"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"paid": 2, "debt": 1, "pending": 0, "skipped": 0}
    assert number not in result.output
    assert sim_bank.balance(number) == 200


def test_the_bank_account_number_never_reaches_the_logs(
    app, caplog, holder, bank_account, sim_bank, make_trip
):
    import logging

    caplog.set_level(logging.DEBUG)
    number = bank_account(holder.card_id, 0)
    sim_bank.fail_next("timeout_before")
    trip_id = make_trip(holder.card_id, base=400)
    assert collect(app, trip_id).status == "pending"
    assert collect(app, trip_id, utcnow() + timedelta(minutes=5)).status == "debt"
    assert number not in caplog.text
    assert trip_id in [getattr(r, "trip_id", None) for r in caplog.records]


def test_flask_ledger_sandbox_account_opens_a_cards_account_at_the_sandbox(
    app, app_config, holder, tmp_path
):
    import json

    from server import create_app
    from server.registry.models import Card
    from server.registry.service import decrypt_bank_account

    with app.app_context():
        number = decrypt_bank_account(db.session.get(Card, holder.card_id))
        db.session.remove()
    dev = create_app(
        {
            **app_config,
            "SSC_BANK_GATEWAY": "sandbox",
            "SSC_BANK_SANDBOX_PATH": str(tmp_path / "bank.json"),
        }
    )
    runner = dev.test_cli_runner()
    result = runner.invoke(
        args=["ledger", "sandbox-account", "--card-id", str(holder.card_id), "--balance-fen", "800"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["balance_fen"] == 800
    assert number not in result.output  # masked
    assert dev.extensions["ssc.bank"].balance(number) == 800
    missing = runner.invoke(args=["ledger", "sandbox-account", "--card-id", "999999"])
    assert missing.exit_code == 1
    in_memory = app.test_cli_runner().invoke(
        args=["ledger", "sandbox-account", "--card-id", str(holder.card_id)]
    )
    assert in_memory.exit_code == 1  # the tests' in-memory bank is not the sandbox
    with dev.app_context():
        db.engine.dispose()  # the second app's pool, left open, would warn
