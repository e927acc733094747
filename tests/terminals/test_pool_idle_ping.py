"""Pooled database connections are pinged only after sitting idle (``SSC_DB_PING_IDLE_S``),
not at every checkout; a dead idle connection is replaced before anyone uses it."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import QueuePool

from server.extensions import _IDLE_SINCE, db, install_idle_ping


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}", poolclass=QueuePool, pool_size=1)
    yield engine
    engine.dispose()


def counting_pings(engine, monkeypatch) -> list[int]:
    pings: list[int] = []
    original = engine.dialect.do_ping

    def do_ping(dbapi_connection):
        pings.append(1)
        return original(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", do_ping)
    return pings


def age(engine, seconds: float) -> None:
    """Make the pool's idle connection look idle for ``seconds`` more."""
    record = engine.pool._pool.queue[0]
    record.info[_IDLE_SINCE] -= seconds


def test_a_connection_back_a_moment_ago_is_not_pinged(engine, monkeypatch):
    install_idle_ping(engine, 10.0)
    pings = counting_pings(engine, monkeypatch)
    for _ in range(3):
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    assert pings == []


def test_an_idle_connection_is_pinged_once_before_use(engine, monkeypatch):
    install_idle_ping(engine, 10.0)
    pings = counting_pings(engine, monkeypatch)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    age(engine, 11)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    assert pings == [1]


def test_a_dead_idle_connection_is_replaced(engine):
    install_idle_ping(engine, 10.0)
    connects: list[int] = []
    event.listen(engine, "connect", lambda *_: connects.append(1))
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.pool._pool.queue[0].dbapi_connection.close()  # gone while it sat in the pool
    age(engine, 11)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    assert len(connects) == 2


def test_zero_pings_at_every_checkout(engine, monkeypatch):
    install_idle_ping(engine, 0.0)
    pings = counting_pings(engine, monkeypatch)
    for _ in range(2):
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert pings == [1]  # the first checkout had a fresh connection


def test_the_app_engine_replaces_a_dead_idle_connection(app):
    """Either backend: the app's engine has the idle ping (no ``pool_pre_ping``)."""
    assert app.config["SSC_DB_PING_IDLE_S"] > 0
    with app.app_context():
        engine = db.engine
        assert not engine.pool._pre_ping
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        for record in list(engine.pool._pool.queue):  # gone while they sat in the pool
            record.dbapi_connection.close()
            record.info[_IDLE_SINCE] -= app.config["SSC_DB_PING_IDLE_S"] + 1
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
