"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``SSC_TEST_POSTGRES_URL`` (a server where databases may be created) or from
a throw-away cluster started here when the server binaries exist. With ``REQUIRE_POSTGRES=1`` a
missing PostgreSQL fails the run instead of skipping its half.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from server import create_app
from server.config import normalise_database_url
from server.extensions import db
from tools.pgcluster import PgCluster, find_bindir

REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
REFERENCE_TABLES = {"city"}


def pytest_configure(config):
    # Personal data must never reach a log; tests capture JSON logs to check that.
    os.environ.setdefault("SSC_LOG_JSON", "1")


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A URL to a PostgreSQL server (its maintenance database), or None."""
    given = os.environ.get("SSC_TEST_POSTGRES_URL")
    if given:
        yield normalise_database_url(given)
        return
    if find_bindir() is None:
        if REQUIRE_POSTGRES:
            pytest.fail("REQUIRE_POSTGRES=1 but no PostgreSQL server binaries were found")
        yield None
        return
    # A fresh directory under the system temp dir: as root the cluster runs as ``postgres``, which
    # cannot enter pytest's private temp tree.
    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


def _create_schema(url: str) -> None:
    from server.registry.rules import CITIES
    from server.registry.service import city_rows

    engine = create_engine(url)
    with engine.begin() as conn:
        db.metadata.create_all(conn)
        conn.execute(db.metadata.tables["city"].insert(), city_rows(CITIES))
    engine.dispose()


@pytest.fixture(scope="session")
def database_urls(postgres_server, tmp_path_factory):
    """Schema built once per backend; each test empties the tables it wrote."""
    # Import the models so metadata is complete before create_all.
    import server.models  # noqa: F401

    urls: dict[str, str] = {}
    sqlite_path = tmp_path_factory.mktemp("sqlite") / "test.db"
    urls["sqlite"] = f"sqlite:///{sqlite_path}"
    _create_schema(urls["sqlite"])
    if postgres_server is not None:
        import psycopg

        base = postgres_server.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "onecard_test"')
            conn.execute('CREATE DATABASE "onecard_test"')
        urls["postgresql"] = postgres_server.rsplit("/", 1)[0] + "/onecard_test"
        _create_schema(urls["postgresql"])
    return urls


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, database_urls):
    name = request.param
    if name == "sqlite" and request.node.get_closest_marker("postgres_only"):
        pytest.skip("concurrency test: PostgreSQL only")
    if name not in database_urls:
        if REQUIRE_POSTGRES:
            pytest.fail("REQUIRE_POSTGRES=1 but PostgreSQL is not available")
        pytest.skip("PostgreSQL not available")
    return name


def _empty_tables(app) -> None:
    with app.app_context():
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in REFERENCE_TABLES]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def kiosk_dir(tmp_path_factory):
    """Where ``flask seed demo`` writes the demo kiosk's files in tests (never instance/)."""
    return str(tmp_path_factory.mktemp("kiosk"))


@pytest.fixture
def app_config(backend, database_urls, keys_dir, kiosk_dir):
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_urls[backend],
        "SSC_KEYS_DIR": keys_dir,
        "SSC_KIOSK_DIR": kiosk_dir,
    }


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    yield app
    _empty_tables(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """``db.session`` inside an app context, for service-level tests."""
    with app.app_context():
        yield db.session
        db.session.remove()


@pytest.fixture
def now():
    return datetime(2026, 11, 20, 2, 30, tzinfo=UTC)  # 10:30 in Guangzhou


# --- actors ----------------------------------------------------------------------------------


class StaffHandle:
    def __init__(self, user, token: str) -> None:
        self.id = user.id
        self.username = user.username
        self.role = user.role
        self.city_code = user.city_code
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    @property
    def actor(self):
        from server.security.rules import Actor, ActorKind, Role

        return Actor(
            kind=ActorKind.STAFF,
            id=self.id,
            label=f"staff:{self.username}",
            role=Role(self.role),
            city_code=self.city_code,
        )


STAFF_PASSWORD = "Correct-Horse-9-Battery"


@pytest.fixture
def make_staff(app, now):
    """Create a staff user with a ready token (sign-in itself is tested in tests/security)."""
    from server.security.rules import ActorKind, Role
    from server.security.service import create_staff_user, issue_token

    counter = {"n": 0}

    def make(
        role: str = "branch_staff", city: str | None = "440100", department: str | None = None
    ):
        counter["n"] += 1
        if role in ("auditor", "system_admin", "department_officer"):
            city = None
        if role == "department_officer" and department is None:
            department = "finance"
        with app.app_context():
            user = create_staff_user(
                db.session,
                None,
                username=f"{role.replace('_', '.')}{counter['n']}",
                display_name=f"测试 {role}",
                password=STAFF_PASSWORD,
                role=Role(role),
                city_code=city,
                department=department,
                now=now,
            )
            token = issue_token(db.session, ActorKind.STAFF, user.id, now, ttl=None)
            db.session.commit()
            handle = StaffHandle(user, token)
            db.session.remove()
        return handle

    return make


@pytest.fixture
def branch(make_staff):
    """A Guangzhou branch clerk."""
    return make_staff("branch_staff", "440100")


@pytest.fixture
def city_admin(make_staff):
    return make_staff("city_admin", "440100")


def valid_id(region: str = "440106", birth: str = "19900101", seq: str = "123") -> str:
    from server.registry.rules import check_digit

    first17 = region + birth + seq
    return first17 + check_digit(first17)


@pytest.fixture
def person_payload():
    return {
        "id_number": valid_id(),
        "name": "张三",
        "city_code": "440100",
        "phone": "13812345678",
    }


def plaintext_hits(app, needles: list[str]) -> tuple[list[tuple[str, str]], int]:
    """Search every column of every table for the given strings, in text and in bytes.
    Returns the (table, needle) hits and how many values were scanned."""
    from sqlalchemy import select

    hits: list[tuple[str, str]] = []
    scanned = 0
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                for value in row:
                    scanned += 1
                    if isinstance(value, str):
                        hits += [(table.name, n) for n in needles if n in value]
                    elif isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        hits += [(table.name, n) for n in needles if n.encode() in raw]
        db.session.remove()
    return hits, scanned


# --- a live HTTP server ------------------------------------------------------------------------


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def base_url(live_server):
    return f"http://127.0.0.1:{live_server.server_port}"
