"""``flask seed demo`` and ``flask seed synthetic``."""

from __future__ import annotations

import json
import time

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from server.clock import utcnow
from server.extensions import db

seed_cli = click.Group("seed", help="演示与基准数据 Demo and benchmark data.")


@seed_cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the registry already has people.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_appcontext
def seed_demo_command(if_empty: bool, as_json: bool) -> None:
    """Fictional people across the pilot cities, cards in every state, one staff user per role.
    Staff passwords and TOTP secrets are printed once."""
    from server.registry.demo import seed_demo
    from server.registry.models import Person

    if if_empty and db.session.execute(select(Person.id).limit(1)).first():
        click.echo("演示数据已存在，跳过 Demo data already present; nothing to do.")
        return
    result = seed_demo(db.session, utcnow())
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo("演示工作人员（密码和动态验证码密钥只显示这一次）Demo staff (shown once):")
    for s in result["staff"]:
        click.echo(
            f"  {s['username']:<16} {s['role']:<19} {s['city'] or '-':<7}"
            f" password={s['password']}  totp_secret={s['totp_secret']}"
        )
    click.echo(
        '  当前动态码 current code: .venv/bin/python -c "import pyotp;'
        " print(pyotp.TOTP('<totp_secret>').now())\""
    )
    click.echo(f"演示持卡人 Demo cardholders (PIN {result['pin']}):")
    for p in result["people"]:
        line = f"  {p['name']:<10} {p['id_number']}  {p['city']}"
        click.echo(f"{line}  card {p['card_id']}: {p['card_state']}")
    click.echo(f"财政部门接口密钥 Finance department API key: {result['department_key']}")
    click.echo("演示终端（HMAC 密钥只显示这一次）Demo terminals (secrets shown once):")
    for t in result["terminals"]:
        where = f"{t['network']} {t['stop'] or ''}".strip()
        click.echo(f"  {t['code']:<12} {t['kind']:<14} {where:<22} secret={t['secret']}")
    kiosk = result.get("kiosk")
    if kiosk:
        click.echo(
            f"演示自助一体机 Demo kiosk: {kiosk['terminal']} at {', '.join(kiosk['entrances'])};"
            " 配置文件 files (0600):"
        )
        for path in kiosk["files"]:
            click.echo(f"  {path}")
    doorstep = result.get("doorstep") or []
    if doorstep:
        click.echo("上门办卡申请 Door-to-door issuance requests:")
        for r in doorstep:
            click.echo(f"  #{r['id']} {r['name']}: {r['status']}")


@seed_cli.command("synthetic")
@click.option("--persons", type=int, required=True)
@click.option("--start", type=int, default=0, help="First synthetic index (to add more later).")
@with_appcontext
def seed_synthetic_command(persons: int, start: int) -> None:
    """Synthetic persons for benchmarks (valid, unique ID numbers; encrypted like real ones)."""
    from server.registry.service import seed_synthetic_persons

    started = time.perf_counter()
    count = seed_synthetic_persons(db.session, persons, utcnow(), start=start)
    elapsed = time.perf_counter() - started
    click.echo(
        json.dumps(
            {
                "persons": count,
                "seconds": round(elapsed, 2),
                "persons_per_s": round(count / elapsed, 1),
            }
        )
    )
