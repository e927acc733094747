"""``flask kiosk purge``: forget expired card challenges (run it daily, like the nonce purge)."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from server.clock import utcnow
from server.extensions import db

kiosk_cli = click.Group("kiosk", help="自助一体机与刷卡挑战 Kiosks and card challenges.")


@kiosk_cli.command("purge")
@with_appcontext
def purge() -> None:
    """Delete card challenges that expired more than a day ago."""
    from server.kiosk.service import purge_challenges

    click.echo(json.dumps({"purged_challenges": purge_challenges(db.session, utcnow())}))
