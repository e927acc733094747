"""Registry benchmark: synthetic seeding throughput and ID-number look-up latency as it grows.

Seeds 20,000 synthetic persons, times ~2,000 random look-ups by ID number (the real blind-index
service function, a fresh session per look-up as in a request), seeds up to 200,000 and times
again. A look-up must not slow down with the registry's size: the goal is p50 at 200k within
1.5x of p50 at 20k; seeding should reach 5,000 persons/s.

Sizes can be shrunk for a quick try: BENCH_REGISTRY_SMALL, BENCH_REGISTRY_LARGE, BENCH_LOOKUPS.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime

from _common import Stopwatch, build_app, emit, note, percentile, time_each, upgrade_schema

from server.extensions import db
from server.registry.models import Person
from server.registry.service import (
    find_person_by_id_number,
    seed_synthetic_persons,
    synthetic_id_number,
)

SMALL = int(os.environ.get("BENCH_REGISTRY_SMALL", "20000"))
LARGE = int(os.environ.get("BENCH_REGISTRY_LARGE", "200000"))
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "2000"))
WARMUP = max(LOOKUPS // 10, 50)
GROWTH_GOAL = 1.5
SEED_RATE_GOAL = 5000
NOW = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)


def label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def analyze() -> None:
    """Fresh planner statistics after a bulk load, as autovacuum would give a live system."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE person")
            conn.commit()


def measure_lookups(population: int, rng: random.Random) -> list[float]:
    """Seconds per look-up of a random existing person, after a warm-up."""

    def lookup(id_number: str) -> None:
        try:
            person = find_person_by_id_number(db.session, id_number)
            if person is None:
                raise RuntimeError(f"seeded person not found: index of {id_number[:6]}…")
        finally:
            db.session.remove()  # one request, one session

    warmup = [synthetic_id_number(rng.randrange(population)) for _ in range(WARMUP)]
    sample = [synthetic_id_number(rng.randrange(population)) for _ in range(LOOKUPS)]
    time_each(lookup, warmup)
    return time_each(lookup, sample)


def seed(start: int, count: int) -> float:
    with Stopwatch() as sw:
        inserted = seed_synthetic_persons(db.session, count, NOW, start=start)
    db.session.remove()
    if inserted != count:
        raise RuntimeError(f"seed_synthetic_persons inserted {inserted}, expected {count}")
    note(f"seeded {start + count} persons ({count / sw.seconds:,.0f} persons/s for this batch)")
    return sw.seconds


def main() -> None:
    if not 0 < SMALL < LARGE:
        raise SystemExit("need 0 < BENCH_REGISTRY_SMALL < BENCH_REGISTRY_LARGE")
    app = build_app()
    schema = upgrade_schema(app)
    rng = random.Random(20261120)
    result: dict = {"bench": "registry"}
    with app.app_context():
        if db.session.query(Person.id).limit(1).first() is not None:
            raise SystemExit("registry bench needs an empty database (person table has rows)")
        db.session.remove()
        result["database"] = db.engine.dialect.name
        result["schema"] = schema

        seed_seconds = seed(0, SMALL)
        analyze()
        small = measure_lookups(SMALL, rng)
        load_small = os.getloadavg()[0]
        note(f"look-ups at {label(SMALL)}: p50 {percentile(small, 50) * 1000:.3f} ms")

        seed_seconds += seed(SMALL, LARGE - SMALL)
        analyze()
        large = measure_lookups(LARGE, rng)
        load_large = os.getloadavg()[0]
        note(f"look-ups at {label(LARGE)}: p50 {percentile(large, 50) * 1000:.3f} ms")

    persons_per_s = LARGE / seed_seconds
    growth = percentile(large, 50) / percentile(small, 50)
    result.update(
        {
            "persons": LARGE,
            "seed_seconds": round(seed_seconds, 2),
            "persons_per_s": round(persons_per_s, 1),
            "lookups": LOOKUPS,
            f"lookup_p50_ms_{label(SMALL)}": round(percentile(small, 50) * 1000, 3),
            f"lookup_p99_ms_{label(SMALL)}": round(percentile(small, 99) * 1000, 3),
            f"lookup_p50_ms_{label(LARGE)}": round(percentile(large, 50) * 1000, 3),
            f"lookup_p99_ms_{label(LARGE)}": round(percentile(large, 99) * 1000, 3),
            "lookup_growth": round(growth, 3),
            # Other work on the machine skews the comparison: a load well above the core count
            # during one of the two measurements makes lookup_growth unreliable.
            f"loadavg_1m_{label(SMALL)}": round(load_small, 2),
            f"loadavg_1m_{label(LARGE)}": round(load_large, 2),
            "cpus": os.cpu_count(),
            "goals": {
                f"lookup_growth <= {GROWTH_GOAL}": growth <= GROWTH_GOAL,
                f"persons_per_s >= {SEED_RATE_GOAL}": persons_per_s >= SEED_RATE_GOAL,
            },
        }
    )
    emit(result)


if __name__ == "__main__":
    main()
