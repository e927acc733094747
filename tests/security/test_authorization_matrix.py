"""Every registered route against every kind of actor.

The table below is the access policy written out by hand. A new route fails this test until it
is added here, and a permission change fails it until the table agrees: access is never granted
by accident.
"""

from __future__ import annotations

import re

import pytest

from server.clock import utcnow
from server.extensions import db
from server.registry import service as registry
from server.security.rules import ActorKind
from server.security.service import create_department_client, issue_token
from server.terminals.rules import sign_headers
from server.terminals.service import register_terminal
from tests.conftest import valid_id

STAFF_ROLES = ("branch_staff", "city_admin", "department_officer", "auditor", "system_admin")
ALL_STAFF = frozenset(STAFF_ROLES)
COUNTER = frozenset({"branch_staff", "city_admin"})
PUBLIC = "public"
TERMINAL = "terminal"  # signed terminal requests (X-Terminal-Id … X-Signature), no bearer token
TERMINAL_ADMINS = frozenset({"city_admin", "system_admin"})

POLICY: dict[str, frozenset[str] | str] = {
    "health.healthz": PUBLIC,
    "health.readyz": PUBLIC,
    "docs.openapi_json": PUBLIC,
    "docs.docs_page": PUBLIC,
    "docs.docs_static": PUBLIC,
    "staff_auth.sign_in": PUBLIC,
    "staff_auth.enrol_totp": PUBLIC,
    "staff_auth.sign_out": ALL_STAFF,
    "staff_auth.me": ALL_STAFF,
    "staff_auth.create_user": frozenset({"city_admin", "system_admin"}),
    "staff_auth.list_users": frozenset({"city_admin", "auditor", "system_admin"}),
    "staff_auth.reset_totp": frozenset({"city_admin", "system_admin"}),
    "staff_auth.audit_events": frozenset({"city_admin", "auditor", "system_admin"}),
    "staff_auth.audit_verify": frozenset({"auditor"}),
    "staff_auth.create_department_client": frozenset({"system_admin"}),
    "department.department_whoami": frozenset({"department"}),
    "registry.cities": ALL_STAFF,
    "registry.register_person": COUNTER,
    "registry.search_person": COUNTER | {"department_officer"},
    "registry.get_person": COUNTER | {"department_officer", "auditor"},
    "registry.update_person": COUNTER,
    "registry.reveal": COUNTER,
    "registry.unbind_phone": COUNTER,
    "registry.apply_card": COUNTER,
    "registry.get_card": COUNTER | {"auditor"},
    "registry.events": COUNTER | {"auditor"},
    "registry.produce": frozenset({"city_admin"}),
    "registry.issue": COUNTER,
    "registry.activate": COUNTER,
    "registry.verify_pin": COUNTER,
    "registry.reset_pin": COUNTER,
    "registry.card_report_loss": COUNTER,
    "registry.card_report_found": COUNTER,
    "registry.card_cancel": COUNTER,
    "registry.replace": COUNTER,
    "registry.seal": COUNTER,
    "registry.request_unseal": COUNTER,
    "registry.decide_unseal": frozenset({"city_admin"}),
    "mobile.auth.request_sms_code": PUBLIC,
    "mobile.auth.sign_in": PUBLIC,
    "mobile.auth.sign_out": frozenset({"cardholder"}),
    "mobile.me.me": frozenset({"cardholder"}),
    "mobile.card.my_card": frozenset({"cardholder"}),
    "mobile.card.my_account": frozenset({"cardholder"}),
    "mobile.card.report_loss": frozenset({"cardholder"}),
    "mobile.ecard.sign": frozenset({"cardholder"}),
    "mobile.ecard.channels": frozenset({"cardholder"}),
    "mobile.ecard.revoke": frozenset({"cardholder"}),
    "mobile.ecard.renew": frozenset({"cardholder"}),
    "mobile.ecard.server_code": frozenset({"cardholder"}),
    "mobile.ecard.server_code_image": frozenset({"cardholder"}),
    "mobile.transit.trips": frozenset({"cardholder"}),
    "mobile.transit.statement": frozenset({"cardholder"}),
    "mobile.transit.debt": frozenset({"cardholder"}),
    "mobile.transit.repay": frozenset({"cardholder"}),
    "mobile.doorstep.create": frozenset({"cardholder"}),
    "mobile.doorstep.my_requests": frozenset({"cardholder"}),
    "mobile.doorstep.cancel": frozenset({"cardholder"}),
    "doorstep.create": COUNTER,
    "doorstep.list_requests": COUNTER | {"auditor"},
    "doorstep.get_request": COUNTER | {"auditor"},
    "doorstep.reveal": COUNTER,
    "doorstep.assign": COUNTER,
    "doorstep.record_visit": COUNTER,
    "doorstep.complete": COUNTER,
    "doorstep.cancel": COUNTER,
    "credentials.card_channels": COUNTER | {"auditor"},
    "credentials.revoke_channel": COUNTER,
    "credentials.verify_fallback": COUNTER,
    "terminals.register": TERMINAL_ADMINS,
    "terminals.list_terminals": TERMINAL_ADMINS | {"auditor"},
    "terminals.disable_terminal": TERMINAL_ADMINS,
    "terminals.enable_terminal": TERMINAL_ADMINS,
    "terminals.retire_terminal": TERMINAL_ADMINS,
    "terminals.rotate_secret": TERMINAL_ADMINS,
    "transit_reports.settlement_day": frozenset({"city_admin", "auditor", "department_officer"}),
    "transit_reports.refunds": frozenset({"city_admin", "auditor", "department_officer"}),
    "terminal.trust_list": TERMINAL,
    "terminal.revocation_list": TERMINAL,
    "terminal.verify": TERMINAL,
    "transit.place_terminal": TERMINAL_ADMINS,
    "transit_terminal.tap": TERMINAL,
    "transit_terminal.tap_batch": TERMINAL,
    "registry.issue_on_site": COUNTER,
    "kiosk_terminal.card_challenge": TERMINAL,
    "kiosk_terminal.start_activation": TERMINAL,
    "kiosk_terminal.confirm_identity": TERMINAL,
    "kiosk_terminal.set_pin": TERMINAL,
    "kiosk_terminal.create_help_request": TERMINAL,
    "kiosk_terminal.get_help_request": TERMINAL,
    "kiosk_terminal.cancel_help_request": TERMINAL,
    "kiosk.list_help_requests": COUNTER,
    "kiosk.claim_help_request": COUNTER,
    "kiosk.resolve_help_request": COUNTER,
    "entrances.create_entrance": TERMINAL_ADMINS,
    "entrances.list_entrances": COUNTER | {"auditor", "system_admin"},
    "entrances.attach_terminal": TERMINAL_ADMINS,
    "entrances.update_entrance": TERMINAL_ADMINS,
    "entrances.detach_terminal": TERMINAL_ADMINS,
    "entrances.list_entries": COUNTER | {"auditor", "system_admin"},
    "entrances.entries_summary": COUNTER | {"auditor", "system_admin"},
    "entrance_terminal.enter": TERMINAL,
}

ACTORS = ("anonymous", "terminal", "cardholder", "department", *STAFF_ROLES)


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SSC_RATELIMIT_ENABLED": False}


@pytest.fixture
def tokens(app, make_staff, now):
    """A function giving fresh credentials for an actor name: a bearer token (sign-out revokes
    tokens), or for "terminal" the signature headers of that one request."""
    staff = {role: make_staff(role) for role in STAFF_ROLES}
    with app.app_context():
        person = registry.register_person(
            db.session,
            staff["branch_staff"].actor,
            id_number=valid_id(seq="555"),
            name="李四",
            city_code="440100",
            now=now,
        )
        client_row, _ = create_department_client(
            db.session, None, name="财政", department="finance", city_code=None, now=now
        )
        subjects = {
            "cardholder": (ActorKind.CARDHOLDER, person.id),
            "department": (ActorKind.DEPARTMENT, client_row.id),
        }
        subjects.update({role: (ActorKind.STAFF, s.id) for role, s in staff.items()})
        _, secret = register_terminal(
            db.session,
            None,
            code="GZM-T-0001",
            kind="metro_gate",
            city_code="440100",
            owner="广州地铁",
            now=now,
        )
        db.session.remove()

    def token(name: str, method: str = "GET", path: str = "/", body: bytes = b"") -> dict[str, str]:
        if name == "anonymous":
            return {}
        if name == "terminal":
            return sign_headers("GZM-T-0001", secret, method, path, body, utcnow())
        kind, subject = subjects[name]
        with app.app_context():
            value = issue_token(db.session, kind, subject, now, ttl=None)
            db.session.commit()
            db.session.remove()
        return {"Authorization": f"Bearer {value}"}

    return token


def concrete(rule: str) -> str:
    rule = rule.replace("<path:filename>", "swagger-ui.css")
    rule = re.sub(r"<any\(([a-z]+)[^)]*\):\w+>", r"\1", rule)  # first choice of an any()
    return re.sub(r"<(?:int:)?\w+>", "999999", rule)


def test_every_route_has_a_policy(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert endpoints - set(POLICY) == set(), "add new routes to POLICY"
    assert set(POLICY) - endpoints == set(), "remove routes that no longer exist"


def test_every_route_against_every_actor(app, client, tokens):
    failures = []
    checked = 0
    for rule in app.url_map.iter_rules():
        policy = POLICY[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for actor in ACTORS:
                path = concrete(rule.rule)
                body = b"{}" if method in ("POST", "PATCH", "PUT") else b""
                kwargs = {"headers": tokens(actor, method, path, body)}
                if body:
                    kwargs.update(data=body, content_type="application/json")
                response = client.open(path, method=method, **kwargs)
                code = (response.get_json(silent=True) or {}).get("code")
                response.close()
                checked += 1
                if policy == PUBLIC or (policy == TERMINAL and actor == "terminal"):
                    ok = response.status_code not in (401, 403)
                elif policy == TERMINAL:  # a bearer token is no terminal signature
                    ok = response.status_code == 401 and code == "terminal.unauthenticated"
                elif actor in ("anonymous", "terminal"):
                    ok = response.status_code == 401 and code == "auth.unauthenticated"
                elif actor in policy:
                    ok = response.status_code not in (401,) and code != "auth.forbidden"
                else:
                    ok = response.status_code == 403 and code == "auth.forbidden"
                if not ok:
                    failures.append((rule.endpoint, method, actor, response.status_code, code))
    assert checked > 250
    assert failures == []
