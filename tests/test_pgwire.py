"""server.pgwire: several statements in one round trip on PostgreSQL (the online tap's path)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import orjson
import pytest

from server import pgwire
from tests.conftest import REQUIRE_POSTGRES

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def pg_url(database_urls) -> str:
    """The test database's SQLAlchemy URL; these tests are about PostgreSQL only."""
    if "postgresql" not in database_urls:
        if REQUIRE_POSTGRES:
            pytest.fail("REQUIRE_POSTGRES=1 but PostgreSQL is not available")
        pytest.skip("PostgreSQL not available")
    return database_urls["postgresql"]


@pytest.fixture
def conn(pg_url):
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute(
            "CREATE TABLE wire (id bigserial PRIMARY KEY, label varchar UNIQUE, at timestamptz,"
            " raw bytea)"
        )
        connection.commit()
        try:
            yield connection
        finally:
            connection.rollback()
            connection.execute("DROP TABLE wire")
            connection.commit()


INSERT = pgwire.Statement(
    "test_wire_insert",
    "INSERT INTO wire (label, at, raw) VALUES (%(label)s::varchar, %(at)s::timestamptz,"
    " %(raw)s::bytea) RETURNING id, label, at, raw",
)
READ_ONLY = pgwire.Statement("test_wire_number", "SELECT %(n)s::int")
READ = pgwire.Statement(
    "test_wire_read",
    "SELECT count(*), json_build_array(%(label)s::varchar, %(day)s::date),"
    " (SELECT count(*) FROM wire WHERE label = %(label)s::varchar) FROM wire",
)


def test_placeholders_become_numbered_parameters_once_each():
    assert READ.params == ("label", "day")
    assert b"$1::varchar" in READ.sql and b"$2::date" in READ.sql
    assert b"%(" not in READ.sql


def test_one_round_trip_returns_each_steps_rows_typed(conn):
    at = datetime(2026, 11, 29, 4, 5, 6, 789000, tzinfo=UTC)
    begin, inserted, read, commit = pgwire.run(
        conn,
        [
            ("BEGIN", None),
            (INSERT, {"label": "甲", "at": at, "raw": b"\x00\xff"}),
            (READ, {"label": "甲", "day": date(2026, 11, 29)}),
            ("COMMIT", None),
        ],
    )
    assert begin == commit == []
    [(row_id, label, stored_at, raw)] = inserted
    assert (label, stored_at, bytes(raw)) == ("甲", at, b"\x00\xff")
    assert read == [(1, ["甲", "2026-11-29"], 1)]
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT id FROM wire").fetchall() == [(row_id,)]


def test_rows_use_the_connections_json_loader(conn):
    from psycopg.types.json import set_json_loads

    calls = []

    def loads(data):
        calls.append(data)
        return orjson.loads(data)

    set_json_loads(loads, conn)
    [rows] = pgwire.run(conn, [(READ, {"label": "x", "day": date(2026, 1, 1)})])
    assert rows == [(0, ["x", "2026-01-01"], 0)]
    assert len(calls) == 1
    conn.rollback()


def test_an_error_is_raised_as_psycopg_raises_it_and_the_connection_stays_usable(conn):
    pgwire.run(conn, [(INSERT, {"label": "dup", "at": None, "raw": None})])
    conn.commit()
    with pytest.raises(psycopg.errors.UniqueViolation):
        pgwire.run(
            conn,
            [
                ("BEGIN", None),
                (INSERT, {"label": "new", "at": None, "raw": None}),
                (INSERT, {"label": "dup", "at": None, "raw": None}),
                (READ, {"label": "new", "day": None}),  # aborted: never runs
            ],
        )
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    conn.rollback()
    [rows] = pgwire.run(conn, [(READ, {"label": "new", "day": None})])
    assert rows[0][2] == 0  # the failed transaction wrote nothing
    conn.rollback()


def test_a_statement_is_prepared_once_per_connection(conn, pg_url):
    def prepared(connection) -> int:
        return connection.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_wire_read'"
        ).fetchone()[0]

    for _ in range(3):
        pgwire.run(conn, [(READ, {"label": "a", "day": None})])
    assert prepared(conn) == 1
    conn.rollback()
    with psycopg.connect(
        pg_url.replace("postgresql+psycopg://", "postgresql://")
    ) as other:  # a new connection prepares it again
        assert prepared(other) == 0
        pgwire.run(other, [(READ, {"label": "a", "day": None})])
        assert prepared(other) == 1


def test_a_value_that_cannot_be_sent_fails_before_anything_is_sent(conn):
    with pytest.raises(psycopg.ProgrammingError):
        pgwire.run(
            conn,
            [("BEGIN", None), (INSERT, {"label": object(), "at": None, "raw": None})],
        )
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # no BEGIN sent


# --- Keeper: the online tap's connection kept checked out between taps ---------------------------


@pytest.fixture
def engine(pg_url):
    from sqlalchemy import create_engine

    made = create_engine(pg_url)
    yield made
    made.dispose()


def test_a_connection_given_back_idle_is_kept_for_the_next_take(engine):
    keeper = pgwire.Keeper()
    first, new = keeper.take(engine, idle_s=10)
    assert new
    raw = first.driver_connection
    keeper.give_back(engine, first)
    second, new = keeper.take(engine, idle_s=10)
    assert (second.driver_connection, new) == (raw, False)
    assert engine.pool.checkedout() == 1  # kept: never returned to the pool in between
    keeper.give_back(engine, second)


def test_a_connection_given_back_inside_a_transaction_goes_back_to_the_pool(engine):
    keeper = pgwire.Keeper()
    pooled, _ = keeper.take(engine, idle_s=10)
    pooled.driver_connection.execute("SELECT 1")  # opens a transaction
    keeper.give_back(engine, pooled)
    assert engine.pool.checkedout() == 0  # the pool rolled it back
    again, new = keeper.take(engine, idle_s=10)
    assert new
    status = again.driver_connection.info.transaction_status
    assert status == psycopg.pq.TransactionStatus.IDLE
    keeper.give_back(engine, again)


def test_a_connection_idle_too_long_or_kept_too_long_goes_through_the_pool(engine):
    keeper = pgwire.Keeper(cycle_s=60)
    pooled, _ = keeper.take(engine, idle_s=10)
    keeper.give_back(engine, pooled)
    pooled, new = keeper.take(engine, idle_s=0)  # idle longer than allowed: the pool pings it
    assert new
    keeper.give_back(engine, pooled)
    keeper = pgwire.Keeper(cycle_s=0)
    pooled, _ = keeper.take(engine, idle_s=10)
    keeper.give_back(engine, pooled)
    pooled, new = keeper.take(engine, idle_s=10)  # kept longer than cycle_s
    assert new
    keeper.give_back(engine, pooled)


def test_disposing_the_engine_closes_the_kept_connection(engine):
    keeper = pgwire.Keeper()
    pooled, _ = keeper.take(engine, idle_s=10)
    raw = pooled.driver_connection
    keeper.give_back(engine, pooled)
    engine.dispose()
    assert raw.closed
    pooled, new = keeper.take(engine, idle_s=10)
    assert new
    keeper.give_back(engine, pooled)


@pytest.mark.parametrize("prepared_before", [True, False])
def test_a_lost_connection_raises_operational_error_and_is_not_kept(engine, prepared_before):
    keeper = pgwire.Keeper()
    pooled, _ = keeper.take(engine, idle_s=10)
    raw = pooled.driver_connection
    if prepared_before:  # the pipeline itself meets the lost connection, not the PREPARE
        assert pgwire.run(raw, [(READ_ONLY, {"n": 0})]) == [[(0,)]]
    with engine.connect() as other:
        other.exec_driver_sql(f"SELECT pg_terminate_backend({raw.info.backend_pid})")
    with pytest.raises(psycopg.OperationalError):
        pgwire.run(raw, [("BEGIN", None), (READ_ONLY, {"n": 1})])
    keeper.give_back(engine, pooled)  # broken: discarded, not kept
    fresh, new = keeper.take(engine, idle_s=10)
    assert new and fresh.driver_connection is not raw
    assert pgwire.run(fresh.driver_connection, [(READ_ONLY, {"n": 2})]) == [[(2,)]]
    keeper.give_back(engine, fresh)


def test_statements_lost_by_the_session_are_prepared_again_on_the_next_run(conn):
    assert pgwire.run(conn, [(READ_ONLY, {"n": 1})]) == [[(1,)]]
    conn.rollback()
    conn.execute("DEALLOCATE ALL")  # as a pooler resetting the session would
    conn.commit()
    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        pgwire.run(conn, [(READ_ONLY, {"n": 2})])
    conn.rollback()
    assert pgwire.run(conn, [(READ_ONLY, {"n": 3})]) == [[(3,)]]
    conn.rollback()
