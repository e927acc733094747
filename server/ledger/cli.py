"""Operator commands: ``flask ledger check``; development: ``flask ledger sandbox-account``."""

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


@ledger_cli.command("sandbox-account")
@click.option("--card-id", type=int, required=True, help="the card whose bank account to open")
@click.option(
    "--balance-fen",
    type=click.IntRange(min=0),
    default=50_000,
    show_default=True,
    help="its balance",
)
@with_appcontext
def sandbox_account(card_id: int, balance_fen: int) -> None:
    """Development: open (or refill) a card's bank account at the sandbox bank — a card made
    through the factory API has an account number the sandbox has never heard of."""
    from flask import current_app

    from server.ledger.bank import SandboxBank
    from server.registry.models import Card
    from server.registry.service import decrypt_bank_account
    from server.security.pii import mask_bank_account

    bank = current_app.extensions["ssc.bank"]
    if not isinstance(bank, SandboxBank):
        raise click.ClickException("SSC_BANK_GATEWAY is not the sandbox bank")
    card = db.session.get(Card, card_id)
    number = decrypt_bank_account(card) if card is not None else None
    db.session.remove()
    if number is None:
        raise click.ClickException(f"card {card_id} has no bank account yet")
    bank.open_account(number, balance_fen)
    click.echo(
        json.dumps(
            {"card_id": card_id, "account": mask_bank_account(number), "balance_fen": balance_fen},
            ensure_ascii=False,
        )
    )
