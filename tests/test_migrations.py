"""Migrations are the schema's only source: an empty database upgraded to head matches the models,
carries the reference data, and downgrades cleanly."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select

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
