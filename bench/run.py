"""Run the benchmarks: every ``bench/*.py`` except ``run.py`` and files starting with ``_``.

    python bench/run.py              # all of them (make bench)
    python bench/run.py registry     # only these

Each benchmark runs as its own process with ``DATABASE_URL`` set and prints one JSON object, which
is written to ``bench/results/<name>.json``. With ``DATABASE_URL`` already in the environment every
benchmark uses that database (it should be empty); otherwise ONE durable throw-away PostgreSQL
cluster serves the whole run and each benchmark gets a fresh database in it. Exits non-zero when
any benchmark fails. Timing goals are reported, never asserted here or in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
TIMEOUT_S = int(os.environ.get("BENCH_TIMEOUT_S", "1800"))

sys.path.insert(0, str(ROOT))


def discover() -> list[str]:
    return sorted(
        p.stem for p in BENCH_DIR.glob("*.py") if not p.name.startswith("_") and p.name != "run.py"
    )


def run_one(name: str, database_url: str) -> tuple[dict | None, str, float]:
    """(result, error, seconds): result is None when the benchmark failed."""
    env = dict(os.environ, DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(BENCH_DIR / f"{name}.py")],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            timeout=TIMEOUT_S,
        )  # stderr (progress) goes straight to ours
    except subprocess.TimeoutExpired:
        return None, f"timed out after {TIMEOUT_S} s", time.perf_counter() - start
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return None, f"exit status {proc.returncode}", seconds
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = proc.stdout.strip()[-500:]
        return None, f"stdout is not one JSON object: {tail!r}", seconds
    if not isinstance(result, dict):
        return None, "stdout is JSON but not an object", seconds
    return result, "", seconds


def summary_line(name: str, result: dict | None, error: str, seconds: float) -> str:
    if result is None:
        return f"  {name:<12} FAILED ({error}) after {seconds:.1f} s"
    # Figures and labels on one line (bool is an int: leave it out), goals on the next.
    shown = {k: v for k, v in result.items() if isinstance(v, int | float | str)}
    figures = [f"{k}={v}" for k, v in shown.items() if not isinstance(v, bool)]
    line = f"  {name:<12} ok in {seconds:.1f} s: " + ", ".join(figures)
    goals = result.get("goals") or {}
    if goals:
        missed = [goal for goal, met in goals.items() if not met]
        verdict = "goals MISSED: " + "; ".join(missed) if missed else "goals met"
        line += f"\n  {'':<12} {verdict}"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)

    available = discover()
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {available}")
    names = args.names or available
    if not names:
        print("no benchmarks found", file=sys.stderr)
        return 1
    RESULTS_DIR.mkdir(exist_ok=True)

    given_url = os.environ.get("DATABASE_URL")
    cluster = None
    if given_url:
        print(f"benchmarks on the given DATABASE_URL ({given_url.split('@')[-1]})", file=sys.stderr)
    else:
        from tools.pgcluster import PgCluster

        cluster = PgCluster(durable=True)
        cluster.start()
        print(f"benchmarks on a throw-away durable cluster in {cluster.base_dir}", file=sys.stderr)

    outcomes = []
    try:
        for name in names:
            url = given_url or cluster.create_database(f"bench_{name}")  # type: ignore[union-attr]
            print(f"\n=== bench {name} ===", file=sys.stderr, flush=True)
            result, error, seconds = run_one(name, url)
            if result is not None:
                out = RESULTS_DIR / f"{name}.json"
                out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
            outcomes.append((name, result, error, seconds))
    finally:
        if cluster is not None:
            cluster.stop()

    print("\nBenchmark summary (results in bench/results/):")
    for outcome in outcomes:
        print(summary_line(*outcome))
    failed = [name for name, result, _, _ in outcomes if result is None]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
