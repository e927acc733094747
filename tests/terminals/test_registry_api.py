"""Staff registry: scope, secrets shown once and stored encrypted, lifecycle, audit."""

from __future__ import annotations

from sqlalchemy import select, text

from server.extensions import db
from server.security.models import AuditEvent
from server.security.pii import cipher
from server.terminals.models import Terminal
from tests.terminals.conftest import TerminalHandle, signed

BODY = {
    "code": "GZM-L3-0001",
    "kind": "metro_gate",
    "city_code": "440100",
    "owner": "广州地铁集团",
    "location": "3号线 体育西路站 B 口",
}


def register(client, staff, **changes):
    return client.post("/staff/v1/terminals", json={**BODY, **changes}, headers=staff.headers)


def test_city_admin_registers_in_its_city_and_sees_the_secret_once(app, client, city_admin):
    response = register(client, city_admin)
    assert response.status_code == 201
    out = response.get_json()
    secret = out["secret"]
    assert len(secret) >= 40
    assert out["code"] == "GZM-L3-0001"
    assert out["status"] == "active"
    assert out["scenes"] == ["transit"]

    listed = client.get("/staff/v1/terminals", headers=city_admin.headers).get_json()["items"]
    assert [t["code"] for t in listed] == ["GZM-L3-0001"]
    assert "secret" not in listed[0]

    with app.app_context():
        row = db.session.execute(select(Terminal)).scalar_one()
        assert cipher().decrypt("terminal.secret", row.secret_enc) == secret
        raw = db.session.execute(text("SELECT * FROM terminal")).one()
        for value in raw:
            as_bytes = value if isinstance(value, bytes) else str(value).encode()
            assert secret.encode() not in as_bytes
        events = db.session.execute(select(AuditEvent)).scalars().all()
        assert [e.action for e in events if e.object_type == "terminal"] == ["terminal.registered"]
        assert all(secret not in e.detail for e in events)
        db.session.remove()


def test_a_guangzhou_admin_cannot_register_a_foshan_terminal(app, client, city_admin):
    response = register(client, city_admin, city_code="440600", code="FSM-1-0001")
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.out_of_scope"
    with app.app_context():
        assert db.session.execute(select(Terminal.id)).first() is None
        db.session.remove()


def test_system_admin_registers_anywhere_and_lists_everything(client, make_staff, city_admin):
    system = make_staff("system_admin")
    assert register(client, system, city_code="440600", code="FSM-1-0001").status_code == 201
    assert register(client, city_admin).status_code == 201
    everything = client.get("/staff/v1/terminals", headers=system.headers).get_json()["items"]
    assert {t["city_code"] for t in everything} == {"440100", "440600"}
    mine = client.get("/staff/v1/terminals", headers=city_admin.headers).get_json()["items"]
    assert [t["city_code"] for t in mine] == ["440100"]
    foshan = client.get("/staff/v1/terminals?city_code=440600", headers=system.headers).get_json()[
        "items"
    ]
    assert [t["code"] for t in foshan] == ["FSM-1-0001"]


def test_auditor_reads_but_branch_staff_do_not(client, make_staff, city_admin):
    register(client, city_admin)
    auditor = make_staff("auditor")
    assert len(client.get("/staff/v1/terminals", headers=auditor.headers).get_json()["items"]) == 1
    branch = make_staff("branch_staff")
    response = client.get("/staff/v1/terminals", headers=branch.headers)
    assert response.status_code == 403


def test_bad_registrations(client, city_admin):
    assert register(client, city_admin).status_code == 201
    taken = register(client, city_admin)
    assert (taken.status_code, taken.get_json()["code"]) == (409, "terminal.code_taken")
    unknown_city = register(client, city_admin, code="X-1-0001", city_code="449900")
    assert unknown_city.get_json()["code"] == "city.unknown"
    bad_kind = register(client, city_admin, code="X-1-0002", kind="toaster")
    assert bad_kind.get_json()["code"] == "request.validation_failed"
    bad_code = register(client, city_admin, code="lower case")
    assert bad_code.get_json()["code"] == "request.validation_failed"


def test_unknown_city_for_a_province_wide_admin(client, make_staff):
    system = make_staff("system_admin")
    response = register(client, system, city_code="449900")
    assert (response.status_code, response.get_json()["code"]) == (422, "city.unknown")


def test_disable_enable_retire_and_audit(app, client, city_admin):
    terminal_id = register(client, city_admin).get_json()["id"]
    base = f"/staff/v1/terminals/{terminal_id}"
    assert client.post(f"{base}/disable", headers=city_admin.headers).get_json()["status"] == (
        "disabled"
    )
    assert client.post(f"{base}/disable", headers=city_admin.headers).status_code == 200
    assert client.post(f"{base}/enable", headers=city_admin.headers).get_json()["status"] == (
        "active"
    )
    assert client.post(f"{base}/retire", headers=city_admin.headers).get_json()["status"] == (
        "retired"
    )
    again = client.post(f"{base}/enable", headers=city_admin.headers)
    assert (again.status_code, again.get_json()["code"]) == (409, "terminal.invalid_transition")
    rotate = client.post(f"{base}/rotate-secret", headers=city_admin.headers)
    assert rotate.get_json()["code"] == "terminal.invalid_transition"
    missing = client.post("/staff/v1/terminals/999999/disable", headers=city_admin.headers)
    assert (missing.status_code, missing.get_json()["code"]) == (404, "terminal.not_found")
    with app.app_context():
        actions = db.session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.object_type == "terminal")
            .order_by(AuditEvent.seq)
        ).scalars()
        assert list(actions) == [
            "terminal.registered",
            "terminal.disabled",
            "terminal.enabled",
            "terminal.retired",
        ]
        db.session.remove()


def test_a_city_admin_cannot_touch_another_citys_terminal(client, make_staff, make_terminal):
    foshan = make_terminal("venue_gate", city="440600")
    admin = make_staff("city_admin", "440100")
    for action in ("disable", "enable", "retire", "rotate-secret"):
        response = client.post(f"/staff/v1/terminals/{foshan.id}/{action}", headers=admin.headers)
        assert (response.status_code, response.get_json()["code"]) == (403, "auth.out_of_scope")


def test_rotating_the_secret_shows_the_new_one_once_and_retires_the_old(
    app, client, city_admin, fake_credentials
):
    created = register(client, city_admin).get_json()
    old = TerminalHandle(created["id"], created["code"], "metro_gate", "440100", created["secret"])
    assert signed(client, old, "GET", "/terminal/v1/trust-list").status_code == 200

    rotated = client.post(
        f"/staff/v1/terminals/{old.id}/rotate-secret", headers=city_admin.headers
    ).get_json()
    assert rotated["secret"] != old.secret
    assert rotated["secret_rotated_at"] is not None
    refused = signed(client, old, "GET", "/terminal/v1/trust-list")
    assert refused.get_json()["code"] == "terminal.bad_signature"
    new = TerminalHandle(old.id, old.code, old.kind, old.city_code, rotated["secret"])
    assert signed(client, new, "GET", "/terminal/v1/trust-list").status_code == 200
    with app.app_context():
        rotations = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "terminal.secret_rotated")
        ).scalars()
        assert all(rotated["secret"] not in e.detail for e in rotations)
        db.session.remove()


def test_cli_register_prints_the_secret_once(app, client, runner, fake_credentials):
    result = runner.invoke(
        args=[
            "terminals",
            "register",
            "--code",
            "GZB-0001",
            "--kind",
            "bus_validator",
            "--city",
            "440100",
            "--owner",
            "广州公交",
        ]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.rsplit(": ", 1)[1].strip()
    with app.app_context():
        terminal_id = db.session.execute(select(Terminal.id)).scalar_one()
        db.session.remove()
    handle = TerminalHandle(terminal_id, "GZB-0001", "bus_validator", "440100", secret)
    assert signed(client, handle, "GET", "/terminal/v1/trust-list").status_code == 200

    duplicate = runner.invoke(
        args=[
            *("terminals", "register", "--code", "GZB-0001", "--kind", "pos"),
            *("--city", "440100", "--owner", "x"),
        ]
    )
    assert duplicate.exit_code != 0
    assert "terminal.code_taken" in duplicate.output
