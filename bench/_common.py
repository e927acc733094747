"""Helpers shared by the benchmarks: timing, percentiles, an app on ``DATABASE_URL``, the schema.

A benchmark is a script ``bench/<name>.py`` that prints exactly ONE JSON object on stdout (progress
and notes go to stderr). ``bench/run.py`` runs them all, each on a fresh database.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/, not the repository, on the path
    sys.path.insert(0, str(ROOT))


def note(message: str) -> None:
    """Progress for the reader; stdout is reserved for the result."""
    print(f"[{Path(sys.argv[0]).stem}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max of durations given in seconds, in milliseconds."""
    return {
        "p50_ms": round(percentile(samples_s, 50) * 1000, 3),
        "p90_ms": round(percentile(samples_s, 90) * 1000, 3),
        "p99_ms": round(percentile(samples_s, 99) * 1000, 3),
        "max_ms": round(max(samples_s) * 1000, 3),
    }


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def time_each(fn: Callable[[Any], object], items: Sequence[Any]) -> list[float]:
    """Call ``fn(item)`` for each item; the duration of each call in seconds."""
    samples = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - start)
    return samples


def build_app(**overrides: Any):
    """The real app on ``DATABASE_URL`` with throw-away keys (never a developer's instance/)."""
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("DATABASE_URL is not set: run benchmarks through `make bench`")
    keys = tempfile.TemporaryDirectory(prefix="onecard-bench-keys-")
    atexit.register(keys.cleanup)
    from server import create_app

    config = {
        "SSC_KEYS_DIR": keys.name,
        "SSC_LOG_LEVEL": "WARNING",
        "SSC_BANK_GATEWAY": "simulated",  # the benchmark's own bank, in memory
        **overrides,
    }
    return create_app(config)


def upgrade_schema(app) -> str:
    """Bring the database to the migrations' head. Without any revision yet, build the schema from
    the models instead (and say so). Returns "migrations" or "create_all"."""
    from alembic.script import ScriptDirectory

    from server.extensions import db
    from server.registry.rules import CITIES
    from server.registry.service import city_rows

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        if ScriptDirectory.from_config(config).get_heads():
            import flask_migrate

            with quiet_stdout():
                flask_migrate.upgrade()
            how = "migrations"
        else:
            note("NOTE: no migration revisions yet; schema built with db.create_all()")
            db.create_all()
            how = "create_all"
        city = db.metadata.tables["city"]
        with db.engine.begin() as conn:
            if conn.execute(city.select().limit(1)).first() is None:
                note("city table empty: inserting the 21 reference rows")
                conn.execute(city.insert(), city_rows(CITIES))
        db.session.remove()
    return how


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send stray prints from library code to stderr so stdout stays one JSON object."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def emit(result: dict[str, Any]) -> None:
    """Print the benchmark's one JSON object."""
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()
