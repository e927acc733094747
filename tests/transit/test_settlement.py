"""Daily settlement with operators and between cities: report, ledger, CSV, staff API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.ledger.models import Account, JournalEntry, JournalLine
from server.transit import payment, settlement

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Guangzhou
DAY = date(2026, 11, 20)
LATE_2330 = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # 23:30 on the 20th in Guangzhou
NEXT_DAY_0030 = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)  # 00:30 on the 21st


@pytest.fixture(autouse=True)
def _books_balance(ledger_balances):
    yield
    ledger_balances()


@pytest.fixture
def rides(app, make_holder, make_trip, bank_account):
    """A day of rides: Guangzhou metro and bus, a Foshan metro; a Shenzhen-resident senior riding
    free in Guangzhou and in Foshan; one fare that became a debt; one that is still pending."""
    local = make_holder()
    visitor = make_holder()  # the trip row says where they live
    broke = make_holder()
    bank_account(local.card_id, 100_000)
    bank_account(visitor.card_id, 100_000)
    bank_account(broke.card_id, 0)
    trips = {
        "gz_metro": make_trip(local.card_id, base=500, transfer=100, started_at=T0),
        "gz_metro_free": make_trip(
            visitor.card_id, base=700, concession=700, home_city="440300", started_at=T0
        ),
        "gz_bus_half": make_trip(
            visitor.card_id,
            base=200,
            concession=100,
            operator="gzbus",
            network="gz-bus",
            mode="bus",
            home_city="440300",
            started_at=T0 + timedelta(hours=1),
        ),
        "fs_metro_free": make_trip(
            visitor.card_id,
            base=600,
            concession=600,
            operator="fsmetro",
            network="fs-metro",
            city="440600",
            home_city="440300",
            started_at=T0 + timedelta(hours=2),
        ),
        "gz_metro_debt": make_trip(broke.card_id, base=400, volume=40, started_at=T0),
        "gz_metro_local_senior": make_trip(
            local.card_id, base=300, concession=300, started_at=T0 + timedelta(hours=3)
        ),
        # 23:30 on the 20th in Guangzhou is still the 20th; 00:30 on the 21st is not.
        "late": make_trip(local.card_id, base=300, started_at=LATE_2330),
        "next_day": make_trip(local.card_id, base=300, started_at=NEXT_DAY_0030),
    }
    with app.app_context():
        summary = payment.collect_pending(db.session, T0 + timedelta(hours=20), limit=100)
        db.session.remove()
    assert summary.debt == 1
    pending = make_trip(local.card_id, base=250, started_at=T0 + timedelta(hours=4))
    trips["gz_metro_pending"] = pending
    return trips


def report(app, day=DAY, cities=None):
    with app.app_context():
        result = settlement.settlement_report(db.session, day, cities=cities)
        db.session.remove()
        return result


def settle(app, day=DAY):
    with app.app_context():
        result = settlement.settle_day(db.session, day, T0 + timedelta(days=1))
        db.session.remove()
        return result


def account_balance(app, kind, owner_ref, city=None) -> int:
    with app.app_context():
        stmt = select(Account.balance_fen).where(
            Account.kind == kind, Account.owner_ref == owner_ref
        )
        if city is not None:
            stmt = stmt.where(Account.city_code == city)
        value = db.session.execute(stmt).scalar_one()
        db.session.remove()
        return value


def journal_sum(app, kind: str, owner_ref: str, entry_kind: str | None = None) -> int:
    """The sum of every journal line into an account (optionally of one entry kind)."""
    with app.app_context():
        stmt = (
            select(func.coalesce(func.sum(JournalLine.amount_fen), 0))
            .join(Account, Account.id == JournalLine.account_id)
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(Account.kind == kind, Account.owner_ref == owner_ref)
        )
        if entry_kind is not None:
            stmt = stmt.where(JournalEntry.kind == entry_kind)
        value = db.session.execute(stmt).scalar_one()
        db.session.remove()
        return int(value)


def entry_count(app) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(JournalEntry)).scalar_one()
        db.session.remove()
        return n


def test_the_report_counts_each_operator_and_city(app, rides):
    result = report(app)
    rows = {(o.operator_id, o.city_code): o for o in result.operators}
    assert set(rows) == {("gzmetro", "440100"), ("gzbus", "440100"), ("fsmetro", "440600")}
    gz = rows[("gzmetro", "440100")]
    # gz_metro, gz_metro_free, gz_metro_debt, gz_metro_local_senior, late, gz_metro_pending
    assert gz.trips == 6
    assert gz.gross_fen == 500 + 700 + 400 + 300 + 300 + 250
    assert gz.concession_fen == 700 + 300
    assert (gz.transfer_fen, gz.volume_fen, gz.cap_fen) == (100, 40, 0)
    assert gz.net_fen == 400 + 0 + 360 + 0 + 300 + 250
    assert gz.collected_fen == 400 + 300
    assert gz.outstanding_fen == 360 + 250
    assert gz.reimbursed_fen == 0
    for row in result.operators:
        discounts = row.concession_fen + row.transfer_fen + row.volume_fen + row.cap_fen
        assert row.gross_fen - discounts == row.net_fen
        assert row.collected_fen + row.outstanding_fen == row.net_fen
    assert result.totals.trips == 8
    assert result.totals.net_fen == sum(o.net_fen for o in result.operators)


def test_cross_city_clearing_pairs_concessions_to_visitors(app, rides):
    pairs = {(c.ride_city, c.home_city): c for c in report(app).clearing}
    assert set(pairs) == {("440100", "440300"), ("440600", "440300")}
    assert (pairs[("440100", "440300")].trips, pairs[("440100", "440300")].concession_fen) == (
        2,
        800,
    )
    assert pairs[("440600", "440300")].concession_fen == 600


def fares_in_ledger(app, operator_id: str, day: date) -> int:
    """What the journal moved into the operator's account for the fares of one service date."""
    with app.app_context():
        from server.transit.models import Trip

        entry_ids = select(Trip.journal_entry_id).where(
            Trip.operator_id == operator_id, Trip.service_date == day
        )
        value = db.session.execute(
            select(func.coalesce(func.sum(JournalLine.amount_fen), 0))
            .join(Account, Account.id == JournalLine.account_id)
            .where(
                Account.kind == "operator_settlement",
                Account.owner_ref == operator_id,
                JournalLine.entry_id.in_(entry_ids),
            )
        ).scalar_one()
        db.session.remove()
        return int(value)


def test_settling_posts_concessions_and_the_report_equals_the_ledger(app, rides):
    result = settle(app)
    settle(app, DAY + timedelta(days=1))

    assert len(result.posted) == 3  # one entry per operator
    days = [report(app), report(app, DAY + timedelta(days=1))]
    for row in days[0].operators:
        assert row.reimbursed_fen == row.concession_fen
        assert fares_in_ledger(app, row.operator_id, DAY) == row.collected_fen
    for operator_id in ("gzmetro", "gzbus", "fsmetro"):
        rows = [o for d in days for o in d.operators if o.operator_id == operator_id]
        concessions = journal_sum(app, "operator_settlement", operator_id, "transit_concession")
        assert concessions == sum(o.reimbursed_fen for o in rows)
        assert account_balance(app, "operator_settlement", operator_id) == sum(
            o.collected_fen + o.reimbursed_fen for o in rows
        )
    # The cities' concession accounts are negative by what they owe.
    assert account_balance(app, "department_funding", "transit_concession", "440100") == -1100
    assert account_balance(app, "department_funding", "transit_concession", "440600") == -600
    collected = sum(d.totals.collected_fen for d in days)
    assert journal_sum(app, "bank_clearing", "bank") == -collected
    assert days[0].totals.reimbursed_fen == days[0].totals.concession_fen == 1700


def test_settling_again_posts_nothing(app, rides):
    settle(app)
    entries = entry_count(app)
    again = settle(app)
    assert again.posted == []
    assert entry_count(app) == entries


def test_a_late_trip_is_settled_by_an_adjustment_for_the_difference(
    app, rides, make_holder, make_trip
):
    settle(app)
    late = make_holder()  # the trip row says where they live
    make_trip(late.card_id, base=400, concession=400, home_city="440300", started_at=T0)

    result = settle(app)

    assert len(result.posted) == 1
    with app.app_context():
        keys = set(
            db.session.execute(
                select(JournalEntry.idempotency_key).where(
                    JournalEntry.kind == "transit_concession"
                )
            ).scalars()
        )
        db.session.remove()
    assert "settle:gzmetro:2026-11-20" in keys
    assert "settle:gzmetro:2026-11-20:2" in keys
    gz = next(o for o in report(app).operators if o.operator_id == "gzmetro")
    assert gz.reimbursed_fen == gz.concession_fen == 1400
    assert journal_sum(app, "operator_settlement", "gzmetro", "transit_concession") == 1400


def test_the_csv_adds_up(app, rides):
    settle(app)
    raw = settlement.report_csv(report(app))

    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert header[0] == "日期 Date"
    assert "票价总额(元) Gross (CNY)" in header
    assert total[1] == "合计 Total"
    assert len(body) == 3
    for column in range(3, len(header)):
        column_sum = sum((Decimal(r[column]) for r in body), Decimal("0"))
        assert column_sum == Decimal(total[column]), header[column]
    gz = next(r for r in body if r[1] == "gzmetro")
    assert gz[header.index("票价总额(元) Gross (CNY)")] == "24.50"
    assert gz[header.index("已结算补贴(元) Concessions settled (CNY)")] == "10.00"


def test_yuan_is_computed_from_integer_fen():
    assert settlement.yuan(0) == "0.00"
    assert settlement.yuan(5) == "0.05"
    assert settlement.yuan(12345) == "123.45"
    assert settlement.yuan(-1100) == "-11.00"
    assert settlement.yuan(10**15 + 1) == "10000000000000.01"


def test_a_day_without_rides_settles_to_nothing(app):
    result = settle(app, date(2026, 1, 1))
    assert result.posted == []
    assert result.report.operators == []
    assert result.report.as_dict()["totals"]["trips"] == 0


# --- staff API ---------------------------------------------------------------------------------


def test_auditors_read_the_whole_province(client, rides, make_staff):
    auditor = make_staff("auditor")
    response = client.get("/staff/v1/transit/settlement?date=2026-11-20", headers=auditor.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["service_date"] == "2026-11-20"
    assert {o["operator_id"] for o in body["operators"]} == {"gzmetro", "gzbus", "fsmetro"}
    assert body["totals"]["trips"] == 8
    assert len(body["clearing"]) == 2


def test_a_city_administrator_reads_their_own_city(client, rides, make_staff):
    foshan = make_staff("city_admin", "440600")
    body = client.get(
        "/staff/v1/transit/settlement?date=2026-11-20", headers=foshan.headers
    ).get_json()
    assert [o["operator_id"] for o in body["operators"]] == ["fsmetro"]
    assert body["totals"]["concession_fen"] == 600
    assert [(c["ride_city"], c["home_city"]) for c in body["clearing"]] == [("440600", "440300")]

    shenzhen = make_staff("city_admin", "440300")  # no operators, but its residents rode elsewhere
    body = client.get(
        "/staff/v1/transit/settlement?date=2026-11-20", headers=shenzhen.headers
    ).get_json()
    assert body["operators"] == []
    assert sum(c["concession_fen"] for c in body["clearing"]) == 1400


def test_only_transport_department_officers_read_settlement(client, rides, make_staff):
    transport = make_staff("department_officer", department="transport")
    finance = make_staff("department_officer", department="finance")
    ok = client.get("/staff/v1/transit/settlement?date=2026-11-20", headers=transport.headers)
    assert ok.status_code == 200
    assert len(ok.get_json()["operators"]) == 3
    refused = client.get("/staff/v1/transit/settlement?date=2026-11-20", headers=finance.headers)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "auth.out_of_scope"


def test_branch_staff_cannot_read_settlement(client, branch):
    response = client.get("/staff/v1/transit/settlement?date=2026-11-20", headers=branch.headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.forbidden"


def test_the_settlement_downloads_as_csv(client, rides, city_admin):
    response = client.get(
        "/staff/v1/transit/settlement?date=2026-11-20&format=csv", headers=city_admin.headers
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "transit-settlement-2026-11-20.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == ["gzbus", "gzmetro", "合计 Total"]


def test_a_bad_date_is_refused(client, city_admin):
    url = "/staff/v1/transit/settlement?date=2026-02-30"
    response = client.get(url, headers=city_admin.headers)
    assert response.status_code == 422
    assert response.get_json()["code"] == "request.validation_failed"


# --- operator commands ---------------------------------------------------------------------------


def test_flask_transit_settle_posts_once_and_writes_the_csv(app, runner, rides, tmp_path):
    import json

    path = tmp_path / "settle.csv"
    first = runner.invoke(args=["transit", "settle", "--date", "2026-11-20", "--csv", str(path)])
    assert first.exit_code == 0, first.output
    body = json.loads(first.output)
    assert len(body["posted_entries"]) == 3
    assert body["totals"]["reimbursed_fen"] == 1700
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert rows[-1][1] == "合计 Total"

    again = runner.invoke(args=["transit", "settle", "--date", "2026-11-20"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["posted_entries"] == []

    check = runner.invoke(args=["ledger", "check"])
    assert check.exit_code == 0, check.output
    assert json.loads(check.output)["ok"] is True


def test_flask_transit_settle_refuses_a_bad_date(runner):
    result = runner.invoke(args=["transit", "settle", "--date", "20-11-2026"])
    assert result.exit_code != 0
