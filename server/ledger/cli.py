"""Operator commands: ``flask ledger check``."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from server.extensions import db

ledger_cli = click.Group("ledger", help="账务 Ledger.")


@ledger_cli.command("check")
@with_appcontext
def ledger_check() -> None:
    """Prove every balance equals its journal and every entry balances; exit 1 if not."""
    from server.ledger.service import check_ledger

    report = check_ledger(db.session)
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    if not report.ok:
        raise SystemExit(1)
