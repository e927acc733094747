"""``flask terminals register`` (prints the secret once) and ``flask terminals purge-nonces``."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from server.clock import utcnow
from server.errors import DomainError
from server.extensions import db
from server.terminals.rules import DEFAULT_CLOCK_SKEW_S, TerminalKind

terminals_cli = click.Group("terminals", help="终端管理 Terminals.")


@terminals_cli.command("register")
@click.option("--code", required=True, help="Terminal code, e.g. GZM-L3-0001")
@click.option("--kind", required=True, type=click.Choice([str(k) for k in TerminalKind]))
@click.option("--city", "city_code", required=True, help="City code, e.g. 440100")
@click.option("--owner", required=True, help="Operator or organisation")
@click.option("--location", default=None, help="Where it stands")
@with_appcontext
def register(code: str, kind: str, city_code: str, owner: str, location: str | None) -> None:
    """Register a terminal and print its HMAC secret once (configure it into the terminal)."""
    from server.terminals.service import register_terminal

    try:
        terminal, secret = register_terminal(
            db.session,
            None,
            code=code,
            kind=kind,
            city_code=city_code,
            owner=owner,
            location=location,
            now=utcnow(),
        )
    except DomainError as exc:
        raise click.ClickException(exc.code) from None
    click.echo(f"registered terminal {terminal.code} (id {terminal.id}, {terminal.kind})")
    click.echo(f"密钥只显示这一次 secret (shown once): {secret}")


@terminals_cli.command("purge-nonces")
@with_appcontext
def purge_nonces() -> None:
    """Delete request nonces older than the clock window (run it every few minutes)."""
    from server.terminals.service import purge_nonces as purge

    skew = int(current_app.config.get("SSC_TERMINAL_CLOCK_SKEW_S", DEFAULT_CLOCK_SKEW_S))
    click.echo(json.dumps({"purged": purge(db.session, utcnow(), skew)}))
