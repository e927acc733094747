"""Operator commands: ``flask audit verify``, ``flask keys rotate-pii``, ``flask staff create``."""

from __future__ import annotations

import json
import os

import click
from flask import current_app
from flask.cli import with_appcontext

from server.clock import utcnow
from server.extensions import db

audit_cli = click.Group("audit", help="审计日志 Audit log.")
keys_cli = click.Group("keys", help="密钥管理 Keys.")
staff_cli = click.Group("staff", help="工作人员账号 Staff accounts.")


@audit_cli.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Recompute the hash chain; exit 1 if any row was edited, inserted or deleted."""
    from server.security.audit import verify_chain

    report = verify_chain(db.session)
    click.echo(json.dumps({"ok": report.ok, "events": report.events, "problems": report.problems}))
    if not report.ok:
        raise SystemExit(1)


@keys_cli.command("rotate-pii")
@with_appcontext
def rotate_pii() -> None:
    """Add a new personal-data encryption key and make it active, then re-encrypt every value."""
    from server.security.keys import add_pii_key, load_keyring
    from server.security.pii import PiiCipher
    from server.security.rotation import reencrypt_all

    keys_dir = current_app.config.get("SSC_KEYS_DIR") or os.path.join(
        current_app.instance_path, "keys"
    )
    kid = add_pii_key(keys_dir)
    current_app.extensions["ssc.pii"] = PiiCipher(load_keyring(keys_dir))
    count = reencrypt_all(db.session, utcnow())
    click.echo(json.dumps({"active_key": kid, "reencrypted": count}))


@staff_cli.command("create")
@click.option("--username", required=True)
@click.option("--display-name", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(
        ["branch_staff", "city_admin", "department_officer", "auditor", "system_admin"]
    ),
)
@click.option("--city", "city_code", default=None, help="City code, e.g. 440100")
@click.option("--department", default=None)
@click.password_option()
@with_appcontext
def staff_create(username, display_name, role, city_code, department, password) -> None:
    """Create a staff user and print its TOTP secret once (scan the URI into an authenticator)."""
    from server.security.rules import Role
    from server.security.service import create_staff_user, new_totp_secret

    now = utcnow()
    user = create_staff_user(
        db.session,
        None,
        username=username,
        display_name=display_name,
        password=password,
        role=Role(role),
        city_code=city_code,
        department=department,
        now=now,
    )
    enrolment = new_totp_secret(db.session, user, None, now)
    click.echo(f"created {username} ({role}); TOTP secret (shown once): {enrolment.secret}")
    click.echo(enrolment.provisioning_uri)


@keys_cli.command("rotate")
@with_appcontext
def rotate_issuer() -> None:
    """New active e-card issuer key; the old one stays trusted until its certificates expire."""
    from server.credentials.service import rotate_issuer_key

    key = rotate_issuer_key(db.session, None, utcnow())
    click.echo(json.dumps({"active_kid": key.kid, "trusted_until": key.trusted_until.isoformat()}))


@keys_cli.command("revoke")
@click.argument("kid", type=int)
@with_appcontext
def revoke_issuer(kid: int) -> None:
    """Distrust issuer key KID at once (compromise): its codes stop verifying everywhere."""
    from server.credentials.service import revoke_issuer_key

    key = revoke_issuer_key(db.session, None, kid, utcnow())
    click.echo(json.dumps({"revoked_kid": key.kid}))


@keys_cli.command("list")
@with_appcontext
def list_issuer_keys() -> None:
    """Issuer keys with their status and trust window."""
    from sqlalchemy import select

    from server.credentials.models import IssuerKey

    for key in db.session.execute(select(IssuerKey).order_by(IssuerKey.created_at)).scalars():
        click.echo(
            json.dumps(
                {
                    "kid": key.kid,
                    "status": key.status,
                    "created_at": key.created_at.isoformat(),
                    "trusted_until": key.trusted_until.isoformat(),
                }
            )
        )


sms_cli = click.Group("sms", help="短信（开发发件箱） SMS (development outbox).")


@sms_cli.command("outbox")
@click.option("--phone", required=True, help="Mainland mobile number")
@click.option("--limit", type=int, default=3)
@with_appcontext
def sms_outbox(phone: str, limit: int) -> None:
    """Show the newest messages the development SMS sender wrote for PHONE."""
    from server.registry.rules import normalise_phone
    from server.security.sms import outbox_messages

    normalised = normalise_phone(phone)
    if normalised is None:
        raise click.BadParameter("not a mainland mobile number", param_hint="--phone")
    for message in outbox_messages(db.session, normalised, limit):
        click.echo(f"{message.created_at.isoformat()}  {message.message}")


@sms_cli.command("purge")
@click.option("--days", type=int, default=7, show_default=True)
@with_appcontext
def sms_purge(days: int) -> None:
    """Delete sign-in codes expired and outbox messages written more than DAYS days ago."""
    from datetime import timedelta

    from server.security.cardholder import purge_sms

    click.echo(json.dumps(purge_sms(db.session, utcnow(), timedelta(days=days))))
