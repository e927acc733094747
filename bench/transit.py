"""Transit benchmark: online taps over HTTP, and a large offline batch.

(1) The app under gunicorn on loopback against PostgreSQL, load from separate processes: `wrk`
(closed loop, pre-signed requests, each a fresh QR code at a bus validator) for the highest
rate, and an open-loop generator at a fixed 300 taps/s for latency. The same harness against a
bare Flask JSON endpoint served the same way gives the ceiling.
(2) One 100,000-tap offline batch (uploaded in chunks of 5,000 as a gate would) priced and
recorded through the batch service.
(3) For context (no goal): the floor, the bare endpoint plus one durable insert per request
(``floor_per_s``, ``floor_ratio``): no tap that records itself inside the request can reach a
higher ratio. The batch's CPU per tap, against the 100 µs per tap (two cores) that 20,000 taps/s
allow: the signature checks alone (``batch_verify_us_per_tap``), the app's process, and the
PostgreSQL server's processes (read from /proc where the server is local).
(4) For context (no goal): the collection job debiting COLLECT_TRIPS of those fares from the
holders' accounts at the simulated bank, one trip at a time as in production.

The holders are of mixed ages (BIRTH_YEARS): most pay adult fares (the daily cap stops them after
a few rides), some ride free or at half fare as seniors.

Goals on the 2-core machine: max_taps_per_s >= 1000, tap_ratio >= 0.4, p99_ms <= 50 at 300/s,
batch_taps_per_s >= 20000.

Both servers run 4 sync workers (BENCH_TRANSIT_WORKERS); BENCH_TRANSIT_GUNICORN_ARGS adds options
to both, e.g. "-k gthread --threads 2" (measured: fewer taps/s and a longer p99 than sync workers).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _common import ROOT, build_app, emit, note, upgrade_schema

HOLDERS = int(os.environ.get("BENCH_TRANSIT_HOLDERS", "400"))
VALIDATORS = int(os.environ.get("BENCH_TRANSIT_VALIDATORS", "40"))
WRK_SECONDS = int(os.environ.get("BENCH_TRANSIT_WRK_SECONDS", "10"))
RATE = 300
RATE_SECONDS = int(os.environ.get("BENCH_TRANSIT_RATE_SECONDS", "10"))
WARMUP_REQUESTS = 450
BATCH_TAPS = int(os.environ.get("BENCH_TRANSIT_BATCH_TAPS", "100000"))
COLLECT_TRIPS = int(os.environ.get("BENCH_TRANSIT_COLLECT_TRIPS", "5000"))
VERIFY_SAMPLE = 10_000  # presentations timed through the verifier alone
# Holders in equal groups by birth year: two of ten are seniors (65+, 60–64), the rest adults.
BIRTH_YEARS = (1955, 1963, 1970, 1975, 1980, 1985, 1990, 1995, 2000, 2005)
WORKERS = int(os.environ.get("BENCH_TRANSIT_WORKERS", "4"))
# Extra gunicorn options for both servers (the app and the bare ceiling), e.g. a worker class.
GUNICORN_ARGS = os.environ.get("BENCH_TRANSIT_GUNICORN_ARGS", "").split()
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found or os.geteuid() != 0:
        return found
    note("installing wrk (apt)")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
    return shutil.which("wrk")


# --- fixtures ---------------------------------------------------------------------------------


def prepare(app, now: datetime):
    """Demo fares, HOLDERS active cards with signed e-cards, VALIDATORS bus validators."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from server.credentials import service as credentials
    from server.credentials.models import EcardChannel
    from server.extensions import db
    from server.registry.demo import demo_bank_account
    from server.registry.models import Card, Person
    from server.registry.service import bank_account_fields, seed_synthetic_persons
    from server.terminals.service import register_terminal
    from server.transit import fares
    from server.transit.models import TerminalPlacement

    device = Ed25519PrivateKey.generate()
    with app.app_context():
        fares.import_fares(db.session, ROOT / "server/transit/data/demo", now)
        # synthetic person i is born 1940-01-01 + i // 1000 days: a group per birth year
        per_group = -(-HOLDERS // len(BIRTH_YEARS))
        for n, year in enumerate(BIRTH_YEARS):
            count = min(per_group, HOLDERS - n * per_group)
            if count > 0:
                start = (date(year, 6, 1).toordinal() - date(1940, 1, 1).toordinal()) * 1000
                seed_synthetic_persons(db.session, count, now, start=start)
        persons = db.session.query(Person).order_by(Person.id).all()
        certificates = []
        for i, person in enumerate(persons):
            account_enc, account_bidx = bank_account_fields("icbc", demo_bank_account(700_000 + i))
            card = Card(
                person_id=person.id, serial=f"B{i:08d}", generation=3,
                issuing_city=person.city_code, bank_code="icbc", state="active",
                bank_account_enc=account_enc, bank_account_bidx=account_bidx,
                pin_failed_tries=0, created_at=now, state_changed_at=now,
            )  # fmt: skip
            db.session.add(card)
            db.session.flush()
            channel = EcardChannel(
                card_id=card.id, person_id=person.id, app_id="bench", device_label="bench",
                public_key=device.public_key().public_bytes_raw(), fallback_secret_enc=b"-",
                fallback_serial=10_000_000 + i, status="active", created_at=now,
            )  # fmt: skip
            db.session.add(channel)
            db.session.flush()
            # Issued hours ago: the offline batch replays taps made up to two hours back.
            issued = credentials._issue_certificate(
                db.session, card, channel, now - timedelta(hours=3)
            )
            certificates.append(issued.encoded)
        db.session.commit()
        terminals = []
        for i in range(VALIDATORS):
            terminal, secret = register_terminal(
                db.session, None, code=f"GZB-{i:04d}", kind="bus_validator",
                city_code="440100", owner="广州公交 bench", now=now,
            )  # fmt: skip
            db.session.add(
                TerminalPlacement(terminal_id=terminal.id, network_id="gz-bus", placed_at=now)
            )
            terminals.append((terminal.code, secret))
        db.session.commit()
        db.session.remove()
    return device, certificates, terminals


class CodeSource:
    """Fresh presentations: each holder's counter grows, holders take turns."""

    def __init__(self, device, certificates) -> None:
        from server.credentials.codec import Certificate

        self.device = device
        self.certs = [Certificate.from_bytes(c) for c in certificates]
        self.counters = [0] * len(self.certs)
        self.next = 0

    def take(self, at: datetime) -> str:
        from server.credentials.codec import Scene, encode, make_presentation

        i = self.next % len(self.certs)
        self.next += 1
        self.counters[i] += 1
        return encode(
            make_presentation(self.certs[i], self.device, Scene.TRANSIT, at, self.counters[i])
        )


def signed_requests(codes: CodeSource, terminals, count: int, port: int) -> list[dict]:
    from server.terminals.rules import sign_headers

    now = datetime.now(UTC)
    out = []
    for i in range(count):
        code, secret = terminals[i % len(terminals)]
        body = json.dumps({"kind": "single", "medium": "qr", "code": codes.take(now)})
        headers = sign_headers(code, secret, "POST", "/terminal/v1/taps", body, now)
        headers.update({"Content-Type": "application/json", "Host": f"127.0.0.1:{port}"})
        out.append(
            {"method": "POST", "path": "/terminal/v1/taps", "headers": headers, "body": body}
        )
    return out


# --- serving and load ------------------------------------------------------------------------


class Served:
    def __init__(self, target: str, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                GUNICORN,
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                *GUNICORN_ARGS,
                "--chdir",
                str(ROOT),
                target,
            ],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    time.sleep(0.5)
                    return
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start: " + self.proc.stderr.read().decode()[-2000:])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_LUA = """
local reqs = dofile(os.getenv("BENCH_REQS_LUA"))
local threads = tonumber(os.getenv("BENCH_WRK_THREADS"))
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  idx = tid + 1
end
function request()
  local r = reqs[idx]
  idx = idx + threads
  if idx > #reqs then idx = ((idx - 1) % #reqs) + 1 end
  return r
end
"""


def raw_http(req: dict) -> str:
    lines = [f"{req['method']} {req['path']} HTTP/1.1"]
    headers = dict(req["headers"])
    headers["Content-Length"] = str(len(req["body"].encode()))
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n" + req["body"]


def lua_string(text: str) -> str:
    """A Lua quoted string (long brackets would turn CR LF into LF and break HTTP framing)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "\\r").replace("\n", "\\n") + '"'


def run_wrk(wrk: str, port: int, requests: list[dict], tmp: Path, connections: int = 32) -> dict:
    threads = 2
    lua_reqs = tmp / "reqs.lua"
    with open(lua_reqs, "w") as fh:
        fh.write("return {\n")
        for req in requests:
            fh.write(lua_string(raw_http(req)) + ",\n")
        fh.write("}\n")
    script = tmp / "script.lua"
    script.write_text(_LUA)
    out = subprocess.run(
        [
            wrk,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{WRK_SECONDS}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
        ],
        env={**os.environ, "BENCH_REQS_LUA": str(lua_reqs), "BENCH_WRK_THREADS": str(threads)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"per_s": rate, "requests": total, "non_2xx": int(bad.group(1)) if bad else 0}


def run_rate(port: int, requests: list[dict], tmp: Path, rate: float = RATE) -> dict:
    path = tmp / "rate.jsonl"
    with open(path, "w") as fh:
        for req in requests:
            fh.write(json.dumps(req) + "\n")
    out = subprocess.run(
        [PYTHON, str(ROOT / "bench/_rate_load.py"), "127.0.0.1", str(port), str(rate), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def floor_figures(app, env, codes, terminals, tmp: Path, wrk: str, result: dict) -> dict:
    """The bare endpoint plus one durable insert per request (``bench/_floor_app.py``), served and
    loaded the same way: what any tap that records itself in the request costs at the least."""
    from sqlalchemy import text

    from server.extensions import db

    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS bench_floor_tap (id bigserial PRIMARY KEY,"
                    " body bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
                )
            )
        db.engine.dispose()
    floor = Served("bench._floor_app:app", env, WORKERS)
    try:
        reqs = signed_requests(codes, terminals, 200, floor.port)
        per_s = run_wrk(wrk, floor.port, reqs, tmp)["per_s"]
    finally:
        floor.stop()
    return {
        "floor_per_s": round(per_s),
        "floor_ratio": round(per_s / result["bare_flask_per_s"], 3),
    }


# --- the offline batch ----------------------------------------------------------------------------


def batch_figures(app, codes: CodeSource, terminals) -> dict:
    from server.extensions import db
    from server.terminals.models import Terminal
    from server.transit import service as transit

    start_at = datetime.now(UTC) - timedelta(hours=2)
    taps = []
    for i in range(BATCH_TAPS):
        at = start_at + timedelta(milliseconds=50 * i)
        taps.append(
            {"local_seq": i + 1, "kind": "single", "medium": "qr", "code": codes.take(at),
             "tapped_at": at.isoformat()}
        )  # fmt: skip
    chunk = 5000
    with app.app_context():
        terminal = db.session.query(Terminal).filter_by(code=terminals[0][0]).one()
        verify_us = verify_cost_us(
            [(t["code"], datetime.fromisoformat(t["tapped_at"])) for t in taps[:VERIFY_SAMPLE]]
        )
        cpu_started, server_started = time.process_time(), postgres_cpu_s()
        started = time.perf_counter()
        accepted = 0
        for n, offset in enumerate(range(0, len(taps), chunk)):
            results = transit.upload_batch(
                db.session, terminal, f"bench-{n}", taps[offset : offset + chunk], datetime.now(UTC)
            )
            accepted += sum(1 for r in results if r["result"] == "accepted")
            db.session.remove()
            terminal = db.session.query(Terminal).filter_by(code=terminals[0][0]).one()
        seconds = time.perf_counter() - started
        app_cpu_s = time.process_time() - cpu_started
        server_cpu_s = postgres_cpu_s()
    figures = {
        "batch_taps": len(taps),
        "batch_accepted": accepted,
        "batch_seconds": round(seconds, 2),
        "batch_taps_per_s": round(len(taps) / seconds),
        # Where a tap's CPU goes, against what 20,000 taps/s leave on this machine's cores.
        "batch_cpu_budget_us_per_tap": round((os.cpu_count() or 1) * 1e6 / 20000),
        "batch_verify_us_per_tap": round(verify_us, 1),
        "batch_app_cpu_us_per_tap": round(app_cpu_s * 1e6 / len(taps), 1),
    }
    if server_cpu_s is not None and server_started is not None:
        figures["batch_postgres_cpu_us_per_tap"] = round(
            (server_cpu_s - server_started) * 1e6 / len(taps), 1
        )
    return figures


def verify_cost_us(presentations: list[tuple[str, datetime]]) -> float:
    """CPU per presentation of the signature and certificate checks alone (the verifier library,
    one thread, certificates cached as in the batch), over the batch's first codes."""
    from server.credentials.codec import Scene
    from server.credentials.service import verifier_cache
    from server.credentials.verifier import Refused, RevocationList, Verifier
    from server.extensions import db

    trust = verifier_cache().get(db.session, datetime.now(UTC)).trust_list
    verifier = Verifier(trust, RevocationList(), None, presentation_ttl_s=60)
    for code, at in presentations:  # the certificates' issuer signatures, checked once each
        verifier.check_only(code, scene=Scene.TRANSIT, now=at)
    started = time.process_time()
    refused = 0
    for code, at in presentations:
        try:
            verifier.check_only(code, scene=Scene.TRANSIT, now=at)
        except Refused:
            refused += 1
    if refused:
        raise RuntimeError(f"{refused} sample presentations refused")
    return (time.process_time() - started) * 1e6 / len(presentations)


def postgres_cpu_s() -> float | None:
    """CPU seconds used so far by this machine's PostgreSQL server processes (user and system),
    from /proc; None where there are none to read (a remote database)."""
    import pwd

    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        return None
    ticks, found = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
        found = True
    return ticks / os.sysconf("SC_CLK_TCK") if found else None


def collect_figures(app) -> dict:
    """The collection job over COLLECT_TRIPS of the pending fares, every account funded."""
    from sqlalchemy import func, select

    from server.extensions import db
    from server.registry.models import Card
    from server.registry.service import decrypt_bank_account
    from server.transit import payment
    from server.transit.models import Trip

    with app.app_context():
        bank = app.extensions["ssc.bank"]
        for card in db.session.query(Card):
            bank.open_account(decrypt_bank_account(card), 10_000_000)
        charged = db.session.execute(
            select(func.count()).select_from(Trip).where(Trip.charged_fen > 0)
        ).scalar_one()
        trips = db.session.execute(select(func.count()).select_from(Trip)).scalar_one()
        db.session.rollback()
        started = time.perf_counter()
        summary = payment.collect_pending(db.session, datetime.now(UTC), limit=COLLECT_TRIPS)
        seconds = time.perf_counter() - started
        db.session.remove()
    done = summary.paid + summary.debt
    return {
        "trips_charged_share": round(charged / trips, 3) if trips else 0,
        "collect_trips": done,
        "collect_debited": bank.movements,
        "collect_trips_per_s": round(done / seconds),
    }


def main() -> None:
    wrk = ensure_wrk()
    app = build_app(SSC_PASSWORD_HASH_FAST=True)
    upgrade_schema(app)
    now = datetime.now(UTC) - timedelta(minutes=1)
    note(f"preparing {HOLDERS} holders and {VALIDATORS} validators")
    device, certificates, terminals = prepare(app, now)
    codes = CodeSource(device, certificates)
    env = {
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "SSC_KEYS_DIR": app.config["SSC_KEYS_DIR"],
        "SSC_LOG_LEVEL": "WARNING",
    }
    result: dict = {"bench": "transit", "workers": WORKERS, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="onecard-bench-transit-") as tmpdir:
        tmp = Path(tmpdir)
        served = Served("server:create_app()", env, WORKERS)
        try:
            # Steady state: every worker has connected to the database and filled its caches
            # (terminal records, placements, fare table, verifier lists) before we measure.
            note(f"warm-up: {WARMUP_REQUESTS} taps at {RATE // 2}/s")
            run_rate(
                served.port,
                signed_requests(codes, terminals, WARMUP_REQUESTS, served.port),
                tmp,
                rate=RATE // 2,
            )
            note(f"fixed rate {RATE}/s for {RATE_SECONDS} s")
            rate = run_rate(
                served.port,
                signed_requests(codes, terminals, RATE * RATE_SECONDS, served.port),
                tmp,
            )
            result["p50_ms"] = rate["p50_ms"]
            result["p99_ms"] = rate["p99_ms"]
            result["rate_errors"] = rate["errors"]
            result["rate_achieved_per_s"] = rate["achieved_per_s"]
            if wrk:
                note(f"wrk closed loop for {WRK_SECONDS} s")
                reqs = signed_requests(codes, terminals, 2500 * WRK_SECONDS, served.port)
                taps = run_wrk(wrk, served.port, reqs, tmp)
                result.update({"taps_per_s": round(taps["per_s"]), "taps_non_2xx": taps["non_2xx"]})
        finally:
            served.stop()
        if wrk:
            bare = Served("bench._bare_app:app", env, WORKERS)
            try:
                reqs = signed_requests(codes, terminals, 200, bare.port)
                ceiling = run_wrk(wrk, bare.port, reqs, tmp)
                result["bare_flask_per_s"] = round(ceiling["per_s"])
            finally:
                bare.stop()
            result["max_taps_per_s"] = result["taps_per_s"]
            result["tap_ratio"] = round(result["taps_per_s"] / result["bare_flask_per_s"], 3)
            result.update(floor_figures(app, env, codes, terminals, tmp, wrk, result))
    note(f"offline batch of {BATCH_TAPS} taps")
    result.update(batch_figures(app, codes, terminals))
    note(f"collecting {COLLECT_TRIPS} fares")
    result.update(collect_figures(app))
    result["goals"] = {
        "max_taps_per_s >= 1000": result.get("max_taps_per_s", 0) >= 1000,
        "tap_ratio >= 0.4": result.get("tap_ratio", 0) >= 0.4,
        "p99_ms <= 50 at 300/s": result["p99_ms"] <= 50,
        "batch_taps_per_s >= 20000": result["batch_taps_per_s"] >= 20000,
    }
    emit(result)


if __name__ == "__main__":
    main()
