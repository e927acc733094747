"""Operator commands: fare data, the money jobs (collect, adjust), settlement, open trips."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from server.clock import utcnow
from server.errors import DomainError
from server.extensions import db

transit_cli = click.Group("transit", help="公共交通 Transit: fare data.")


@transit_cli.command("import-fares")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, dir_okay=True, readable=True)
)
@with_appcontext
def import_fares_command(directory: str) -> None:
    """Validate the GTFS-Fares v2 CSV files in DIRECTORY and replace the fare data with them.

    Prints a JSON report. On invalid data prints every row error, imports nothing, exits 1.
    """
    from server.transit.fares import import_fares

    try:
        report = import_fares(db.session, directory, utcnow())
    except DomainError as exc:
        errors = exc.extra.get("errors", [])
        body = {"ok": False, "code": exc.code, "error_count": len(errors), "errors": errors}
        click.echo(json.dumps(body, ensure_ascii=False, indent=1))
        raise SystemExit(1) from None
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))


# --- paying for rides and settlement (server/transit/payment.py, settlement.py) -----------------


@transit_cli.command("collect")
@click.option("--limit", default=500, show_default=True, help="Most trips to collect in this run.")
@with_appcontext
def collect_command(limit: int) -> None:
    """Collect pending fares from the cards' bank accounts (failed debits become debts).

    Safe to run on several workers at once; prints a JSON summary."""
    from server.transit.payment import collect_pending

    summary = collect_pending(db.session, utcnow(), limit=limit)
    click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))


@transit_cli.command("adjust")
@click.option("--limit", default=500, show_default=True, help="Most trips to adjust in this run.")
@with_appcontext
def adjust_command(limit: int) -> None:
    """Fare adjustments: trips charged their maximum fare that a late tap completed are priced as
    the ride they were; the difference reduces the debt or is refunded to the holder's bank
    account. Run after ``collect``; safe on several workers; prints a JSON summary."""
    from server.transit.adjustment import adjust_late_taps

    summary = adjust_late_taps(db.session, utcnow(), limit=limit)
    click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))


@transit_cli.command("settle")
@click.option(
    "--date",
    "service_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Asia/Shanghai service date (default: yesterday).",
)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True), default=None)
@with_appcontext
def settle_command(service_date, csv_path: str | None) -> None:
    """Settle one day with the operators: post concession reimbursements (once; re-running posts
    only what is new), print the report as JSON, and write the CSV (UTF-8 with BOM) if asked."""
    from datetime import timedelta

    from server.clock import local_date
    from server.transit.settlement import report_csv, settle_day

    now = utcnow()
    day = service_date.date() if service_date else local_date(now) - timedelta(days=1)
    result = settle_day(db.session, day, now)
    if csv_path:
        with open(csv_path, "wb") as f:
            f.write(report_csv(result.report))
    body = {**result.report.as_dict(), "posted_entries": result.posted}
    click.echo(json.dumps(body, ensure_ascii=False, indent=1))


@transit_cli.command("close-open-trips")
@with_appcontext
def close_open_trips_command() -> None:
    """Close entries (and bicycle rentals) open past their network's exit timeout as incomplete
    ``no_exit`` trips, priced per the fare rules. Prints how many were closed."""
    from server.transit.service import close_open_trips

    total = 0
    while True:
        closed = close_open_trips(db.session, utcnow())
        total += closed
        if closed == 0:
            break
    click.echo(json.dumps({"closed": total}))
