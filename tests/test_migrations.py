"""Migrations are the schema's only source: an empty database upgraded to head matches the models,
carries the reference data, and downgrades cleanly."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from server import create_app
from server.extensions import db
from server.registry.models import City
from server.registry.rules import CITIES
from tools.check_migrations import check


@pytest.fixture
def empty_database_url(backend, postgres_server, tmp_path):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    import psycopg

    base = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "onecard_migrations"')
        conn.execute('CREATE DATABASE "onecard_migrations"')
    return postgres_server.rsplit("/", 1)[0] + "/onecard_migrations"


@pytest.fixture
def fresh_app(empty_database_url, keys_dir):
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database_url, "SSC_KEYS_DIR": keys_dir}
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def test_upgrade_from_empty_matches_the_models(fresh_app):
    with fresh_app.app_context():
        upgrade()
    report = check(fresh_app)
    assert report["problems"] == []
    assert report["differences"] == []


def test_the_cities_come_with_the_schema(fresh_app):
    with fresh_app.app_context():
        upgrade()
        rows = db.session.execute(select(City).order_by(City.code)).scalars().all()
        assert [(c.code, c.name_zh, c.name_en, c.pilot) for c in rows] == [
            (c.code, c.name_zh, c.name_en, c.pilot) for c in CITIES
        ]


def test_downgrade_to_base_removes_everything_and_upgrade_again_works(fresh_app):
    with fresh_app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "card" in inspect(db.engine).get_table_names()


def test_trips_a_late_tap_joined_before_fare_adjustments_existed_are_listed_for_them(fresh_app):
    """Revision afb9d4280a0f lists the charged trips that late taps had already joined (a tap
    pointing at an incomplete trip without being its entry or exit), so the adjustment job takes
    them up; other trips are not listed."""
    from datetime import UTC, datetime, timedelta

    from server.registry.models import Card, Person
    from server.registry.service import seed_synthetic_persons
    from server.terminals.service import register_terminal
    from server.transit.models import LateJoin, Tap, Trip

    now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    with fresh_app.app_context():
        upgrade(revision="6919e882564c")
        seed_synthetic_persons(db.session, 1, now)
        person = db.session.execute(select(Person)).scalar_one()
        card = Card(
            person_id=person.id, serial="M00000001", generation=3, issuing_city="440100",
            bank_code="icbc", state="active", pin_failed_tries=0, created_at=now,
            state_changed_at=now,
        )  # fmt: skip
        db.session.add(card)
        terminal, _ = register_terminal(
            db.session, None, code="GZM-MIG-01", kind="metro_gate", city_code="440100",
            owner="migration test", now=now,
        )  # fmt: skip
        db.session.flush()

        def trip(incomplete: str | None) -> Trip:
            row = Trip(
                card_id=card.id, network_id="gz-metro", operator_id="gzmetro", mode="metro",
                city_code="440100", home_city="440100", rider_categories="",
                from_stop_id="gzm-xilang", started_at=now, service_date=now.date(),
                status="incomplete" if incomplete else "complete", incomplete=incomplete,
                charged_fen=800, payment_status="paid", created_at=now, priced_at=now,
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
            return row

        def tap(trip_row: Trip, kind: str) -> Tap:
            row = Tap(
                terminal_id=terminal.id, medium="qr", card_id=card.id, kind=kind,
                network_id="gz-metro", stop_id="gzm-xilang", tapped_at=now,
                received_at=now + timedelta(hours=5), result="accepted", trip_id=trip_row.id,
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
            return row

        joined, complete = trip("no_exit"), trip(None)
        joined.entry_tap_id = tap(joined, "entry").id
        tap(joined, "exit")  # the late exit
        complete.entry_tap_id = tap(complete, "entry").id
        complete.exit_tap_id = tap(complete, "exit").id
        joined_id = joined.id
        db.session.commit()

        upgrade()

        assert db.session.execute(select(LateJoin.trip_id)).scalars().all() == [joined_id]
        # d0d184ae2fa2: the rows listed before it are late taps
        assert db.session.execute(select(LateJoin.reason)).scalars().all() == ["late_tap"]

        # Downgrading below d0d184ae2fa2 drops the later rides' rows, which the old schema cannot
        # hold, and keeps the late taps'.
        complete_id = complete.id
        db.session.add(
            LateJoin(
                trip_id=complete_id,
                created_at=now,
                reason="earlier_ride",
                caused_by_trip_id=joined_id,
            )
        )
        db.session.commit()
        db.session.remove()
        downgrade(revision="afb9d4280a0f")
        listed = db.session.execute(text("SELECT trip_id FROM transit_late_join")).scalars()
        assert listed.all() == [joined_id]
        db.session.remove()
        upgrade()
