"""Staff end a phone binding (lost phone, recycled number); old codes are purged."""

from __future__ import annotations

import json
from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from server.clock import utcnow
from server.extensions import db
from server.security.models import SmsCode, SmsOutbox
from tests.mobile.conftest import PHONE, bearer, latest_code, request_code, sign_in
from tests.mobile.test_sms_sign_in import bind


def test_staff_unbind_a_phone_and_its_sessions_end(app, client, holder, branch):
    token = bind(app, client, holder)
    response = client.post(
        f"/staff/v1/persons/{holder.person_id}/phone-binding/revoke",
        json={"reason": "号码已转给他人"},
        headers=branch.headers,
    )
    assert response.status_code == 200
    assert response.get_json() == {"unbound": True}
    me = client.get("/mobile/v1/me", headers=bearer(token))
    assert me.get_json()["code"] == "auth.invalid_token"
    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=False):
        request_code(client, PHONE)
        again = sign_in(client, PHONE, latest_code(app, PHONE))
    assert again.get_json()["code"] == "auth.real_name_required"


def test_unbinding_a_person_with_no_phone_changes_nothing(client, holder, branch):
    response = client.post(
        f"/staff/v1/persons/{holder.person_id}/phone-binding/revoke",
        json={"reason": "核实"},
        headers=branch.headers,
    )
    assert response.get_json() == {"unbound": False}


def test_staff_of_another_city_cannot_unbind(app, client, holder, make_staff):
    bind(app, client, holder)
    zhuhai = make_staff("branch_staff", "440400")
    response = client.post(
        f"/staff/v1/persons/{holder.person_id}/phone-binding/revoke",
        json={"reason": "x"},
        headers=zhuhai.headers,
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.out_of_scope"


def test_old_codes_and_outbox_messages_are_purged(app, client, runner):
    request_code(client, PHONE)
    with time_machine.travel(utcnow() + timedelta(days=8), tick=False):
        result = runner.invoke(args=["sms", "purge", "--days", "7"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"sms_codes": 1, "outbox_messages": 1}
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(SmsCode)).scalar_one() == 0
        assert db.session.execute(select(func.count()).select_from(SmsOutbox)).scalar_one() == 0
