"""Transit fixtures; each area appends its own section below."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

# Cardholders with an active card, a token and a signed e-card (fixtures shared with credentials).
from tests.credentials.conftest import holder, make_holder, phone, signed  # noqa: F401

# --- payment, trip views, settlement (test_payment*, test_trip_views*, test_settlement*) ---------


@pytest.fixture
def sim_bank(app):
    """The app's simulated bank (``SSC_BANK_GATEWAY=simulated``); tests queue failures on it."""
    return app.extensions["ssc.bank"]


@pytest.fixture
def bank_account(app, sim_bank):
    """Open the card's bank account at the simulated bank; returns its number (tests only)."""
    from server.extensions import db
    from server.registry.models import Card
    from server.registry.service import decrypt_bank_account

    def open_(card_id: int, balance_fen: int = 100_000) -> str:
        with app.app_context():
            number = decrypt_bank_account(db.session.get(Card, card_id))
            db.session.remove()
        sim_bank.open_account(number, balance_fen)
        return number

    return open_


@pytest.fixture
def make_trip(app):
    """Insert a priced trip (payment pending) as the taps service would; returns its id."""
    from datetime import UTC, datetime, timedelta

    from server.clock import local_date
    from server.extensions import db
    from server.transit.models import Trip

    def make(
        card_id: int,
        *,
        base: int = 400,
        concession: int = 0,
        transfer: int = 0,
        volume: int = 0,
        cap: int = 0,
        charged: int | None = None,
        operator: str = "gzmetro",
        network: str = "gz-metro",
        mode: str = "metro",
        city: str = "440100",
        home_city: str = "440100",
        started_at: datetime | None = None,
        categories: str = "",
        payment_status: str = "pending",
    ) -> int:
        started = started_at or datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
        if charged is None:
            charged = base - concession - transfer - volume - cap
        with app.app_context():
            trip = Trip(
                card_id=card_id,
                network_id=network,
                operator_id=operator,
                mode=mode,
                city_code=city,
                home_city=home_city,
                rider_categories=categories,
                from_stop_id="S01",
                to_stop_id="S09" if mode == "metro" else None,
                started_at=started,
                ended_at=started + timedelta(minutes=25),
                service_date=local_date(started),
                status="complete",
                base_fen=base,
                concession_fen=concession,
                transfer_fen=transfer,
                volume_fen=volume,
                cap_fen=cap,
                charged_fen=charged,
                transfer_count=0,
                payment_status=payment_status,
                created_at=started,
                priced_at=started,
            )
            db.session.add(trip)
            db.session.commit()
            trip_id = trip.id
            db.session.remove()
        return trip_id

    return make


@pytest.fixture
def ledger_balances(app):
    """Call at the end of a test that moved money: the books must prove themselves."""
    from server.extensions import db
    from server.ledger.service import check_ledger

    def check() -> None:
        with app.app_context():
            report = check_ledger(db.session)
            db.session.remove()
        assert report.ok, report.problems

    return check


# --- fare data and the fare engine (test_fare_rules, test_fare_import) --------------------------
# The demo CSVs in server/transit/data/demo are the fixtures: pure tests read them straight into a
# FareTable (no database); import tests load them with ``flask transit import-fares``.

FARE_AT = "2026-11-20T10:30:00+08:00"  # a Friday morning in Guangzhou


@pytest.fixture(scope="session")
def fare_table():
    """The demo fare data as a FareTable, read from the CSV files (no database)."""
    from server.transit.fares import DEMO_DIR, fare_table_from_directory

    return fare_table_from_directory(DEMO_DIR)


@pytest.fixture
def make_leg(fare_table):
    """``make_leg("gz-metro", "gzm-xilang", "gzm-fangcun", minutes=25, start=...)``: a leg whose
    mode, city and operator come from the network in the demo data."""
    from datetime import datetime, timedelta

    from server.transit.pricing import Leg

    def make(network_id, from_stop=None, to_stop=None, *, minutes=25, start=None, **fields):
        network = fare_table.networks[network_id]
        started = start or datetime.fromisoformat(FARE_AT)
        ended = None if minutes is None else started + timedelta(minutes=minutes)
        values = {
            "network_id": network_id,
            "mode": network.mode,
            "city_code": network.city_code,
            "operator_id": network.operator_id,
            "started_at": started,
            "ended_at": ended,
            "from_stop_id": from_stop,
            "to_stop_id": to_stop,
        }
        values.update(fields)
        return Leg(**values)

    return make


@pytest.fixture
def make_rider():
    """``make_rider("senior_65_plus", home="440600")``: a rider with these categories."""
    from server.transit.pricing import Rider

    def make(*categories, home="440100", card_id=1):
        return Rider(card_id=card_id, home_city=home, categories=frozenset(categories))

    return make


# --- taps, batches, trips, card chips (test_taps*, test_batches*, test_trips*, test_chip) ---------


@pytest.fixture
def demo_fares(app):
    """The demo fare data imported into the database (as ``flask transit import-fares``)."""
    from server.clock import utcnow
    from server.extensions import db
    from server.transit.fares import DEMO_DIR, import_fares

    with app.app_context():
        import_fares(db.session, DEMO_DIR, utcnow())
        db.session.remove()


@pytest.fixture
def make_transit_terminal(app, now, demo_fares):
    """A registered transit terminal placed on a network (and station): ``TerminalHandle``."""
    from server.extensions import db
    from server.terminals import service as terminals
    from server.transit.models import TerminalPlacement
    from tests.terminals.conftest import TerminalHandle

    counter = {"n": 0}

    def make(kind="metro_gate", network="gz-metro", stop="gzm-xilang", placed=True, city="440100"):
        counter["n"] += 1
        code = f"GZT-{kind[:3].upper()}-{counter['n']:04d}"
        with app.app_context():
            terminal, secret = terminals.register_terminal(
                db.session, None, code=code, kind=kind, city_code=city, owner="广州交通", now=now
            )
            if placed:
                db.session.add(
                    TerminalPlacement(
                        terminal_id=terminal.id, network_id=network, stop_id=stop, placed_at=now
                    )
                )
                db.session.commit()
            handle = TerminalHandle(terminal.id, terminal.code, kind, city, secret)
            db.session.remove()
        return handle

    return make


class Passenger:
    """A cardholder with a signed e-card (phone key + certificate) and a physical card chip."""

    def __init__(self, cardholder, key_holder, certificate: bytes, master: bytes) -> None:
        from server.credentials.codec import Certificate
        from server.registry.chip import ChipCard

        self.holder = cardholder
        self.card_id = cardholder.card_id
        self.phone = key_holder
        self.certificate = Certificate.from_bytes(certificate)
        self.counter = 0
        self.chip = ChipCard.issued(master, cardholder.serial)

    def code(self, at=None, scene=None) -> str:
        """A fresh presentation (transit scene unless told), generated at ``at`` (default now)."""
        from server.clock import utcnow
        from server.credentials.codec import Scene, encode, make_presentation

        self.counter += 1
        return encode(
            make_presentation(
                self.certificate,
                self.phone.key,
                scene or Scene.TRANSIT,
                at or utcnow(),
                self.counter,
            )
        )


@pytest.fixture
def make_passenger(app, client, make_holder):  # noqa: F811 - the fixture imported above
    """``make_passenger(birth="19900101")``: an adult with an active card and a signed e-card."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tests.credentials.conftest import Phone

    def make(birth: str = "19900101", city: str = "440100", disability: int | None = None):
        cardholder = make_holder(birth=birth, city=city, disability=disability)
        device = Phone(Ed25519PrivateKey.generate())
        response = client.post(
            "/mobile/v1/ecard",
            json={"public_key": device.public_b64, "app_id": "gd-hrss", "device_label": "测试手机"},
            headers=cardholder.headers,
        )
        assert response.status_code == 201, response.get_json()
        certificate = base64.b64decode(response.get_json()["certificate"]["certificate"])
        master = app.extensions["ssc.keyring"].card_master
        return Passenger(cardholder, device, certificate, master)

    return make


@pytest.fixture
def passenger(make_passenger):
    return make_passenger()


def terminal_post(client, terminal, path: str, body):
    """POST ``body`` as JSON to ``/terminal/v1`` + ``path``, signed as ``terminal``."""
    from tests.terminals.conftest import signed as signed_request

    return signed_request(client, terminal, "POST", "/terminal/v1" + path, json_body=body)


def trips_of(app, card_id: int) -> list:
    """The card's trips, oldest first (detached rows)."""
    from sqlalchemy import select

    from server.extensions import db
    from server.transit.models import Trip

    with app.app_context():
        rows = list(
            db.session.execute(
                select(Trip).where(Trip.card_id == card_id).order_by(Trip.started_at, Trip.id)
            ).scalars()
        )
        db.session.expunge_all()
        db.session.remove()
    return rows


def count_rows(app, model) -> int:
    from sqlalchemy import func, select

    from server.extensions import db

    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(model)).scalar_one()
        db.session.remove()
    return n


def collect(app, trip_id: int, now=None):
    """Collect one trip's fare through the bank gateway and the ledger (the collector's step)."""
    from server.clock import utcnow
    from server.extensions import db
    from server.transit import payment

    with app.app_context():
        try:
            return payment.collect_trip(db.session, trip_id, now or utcnow())
        finally:
            db.session.remove()


def listing(app, card_id: int) -> str | None:
    """The reason the card's pseudonym is on the revocation list now, or None."""
    from server.clock import utcnow
    from server.credentials import service as credentials
    from server.extensions import db

    with app.app_context():
        reason = credentials.pseudonym_listing(db.session, card_id, utcnow())
        db.session.remove()
        return reason


# --- late taps and the bank (test_bank_calls_and_late_taps, test_fare_adjustments) --------------
# A metro ride whose exit comes late: gates at 西朗 and 公园前 (¥4 apart), an entry left open as a
# no_exit trip at the maximum fare.

MAX_FARE = 800  # Guangzhou Metro's maximum in the demo fares (an incomplete trip's fare)


@pytest.fixture
def gates(make_transit_terminal):
    return (
        make_transit_terminal("metro_gate", "gz-metro", "gzm-xilang"),
        make_transit_terminal("metro_gate", "gz-metro", "gzm-gongyuanqian"),
    )


def tap_online(client, gate, passenger, kind, at):
    """An online tap at ``at`` of a code shown now."""
    body = {"kind": kind, "medium": "qr", "code": passenger.code(), "tapped_at": at.isoformat()}
    return terminal_post(client, gate, "/taps", body)


def upload_one(client, gate, passenger, kind, at, seq: int = 1) -> dict:
    """One tap in an offline batch, of a code shown at ``at``; returns its result."""
    import uuid

    tap = {
        "local_seq": seq,
        "kind": kind,
        "medium": "qr",
        "code": passenger.code(at),
        "tapped_at": at.isoformat(),
    }
    response = terminal_post(
        client, gate, "/tap-batches", {"batch_id": str(uuid.uuid4()), "taps": [tap]}
    )
    assert response.status_code == 200, response.get_json()
    [result] = response.get_json()["results"]
    return result


def no_exit_trip(app, client, gate, passenger, entered, charged: int = MAX_FARE) -> int:
    """An entry left open past the exit timeout: a no_exit trip at the maximum fare (``charged``
    after a concession), pending. (The job runs as if hours had passed: the e-card was signed
    moments ago, and the gates' codes must be from after that.)"""
    from server.extensions import db
    from server.transit import service

    assert tap_online(client, gate, passenger, "entry", entered).status_code == 200
    with app.app_context():
        assert service.close_open_trips(db.session, entered + timedelta(hours=4, minutes=1)) == 1
        db.session.remove()
    [trip] = trips_of(app, passenger.card_id)
    assert (trip.incomplete, trip.payment_status, trip.base_fen, trip.charged_fen) == (
        "no_exit",
        "pending",
        MAX_FARE,
        charged,
    )
    return trip.id


@dataclass
class Ride:
    """A metro entry 40 s ago at 西朗 left as a no_exit trip (maximum fare, pending), the holder's
    bank account holding ¥100, and the exit gate at 公园前 whose tap (30 s later) comes late."""

    passenger: Any
    exit_gate: Any
    entered: datetime
    trip_id: int
    account: str

    def late_exit_online(self, client):
        return tap_online(client, self.exit_gate, self.passenger, "exit", self.exited)

    def late_exit_offline(self, client) -> dict:
        return upload_one(client, self.exit_gate, self.passenger, "exit", self.exited)

    @property
    def exited(self) -> datetime:
        return self.entered + timedelta(seconds=30)


@pytest.fixture
def ride(app, client, gates, passenger, bank_account) -> Ride:
    from server.clock import utcnow

    entry_gate, exit_gate = gates
    account = bank_account(passenger.card_id, 10_000)
    entered = utcnow() - timedelta(seconds=40)
    trip_id = no_exit_trip(app, client, entry_gate, passenger, entered)
    return Ride(passenger, exit_gate, entered, trip_id, account)


def pausing(fn: Callable) -> tuple[Callable, threading.Event, threading.Event]:
    """``fn`` wrapped to stop on its way in until released: (wrapper, inside, release)."""
    inside, release = threading.Event(), threading.Event()

    def wrapper(*args):
        inside.set()
        release.wait(30)
        return fn(*args)

    return wrapper, inside, release


def fare_lines(app, trip_id) -> list[int]:
    """The journal amounts credited for the trip's fare (key trip:<id>)."""
    from sqlalchemy import select

    from server.extensions import db
    from server.ledger.models import JournalEntry, JournalLine

    with app.app_context():
        amounts = db.session.execute(
            select(JournalLine.amount_fen)
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(JournalEntry.idempotency_key == f"trip:{trip_id}", JournalLine.amount_fen > 0)
        ).scalars()
        found = list(amounts)
        db.session.remove()
    return found


def collected_no_entry_trip(app, client, exit_gate, passenger) -> tuple[int, Any]:
    """An exit moments ago with no entry on record: a no_entry trip at the maximum fare, collected
    from the holder's account. Returns (trip id, when they exited)."""
    from server.clock import utcnow

    exited = utcnow() - timedelta(seconds=10)
    response = tap_online(client, exit_gate, passenger, "exit", exited)
    assert response.status_code == 200, response.get_json()
    trip_id = response.get_json()["trip"]["id"]
    assert collect(app, trip_id).status == "paid"
    return trip_id, exited
