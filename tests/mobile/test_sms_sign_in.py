"""Cardholder sign-in through the API: SMS code from the outbox, real-name binding, sign-out."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from server.clock import utcnow
from server.extensions import db
from server.security.models import PhoneBinding
from tests.mobile.conftest import (
    OTHER_PHONE,
    PHONE,
    bearer,
    latest_code,
    request_code,
    sign_in,
    wrong,
)


def bind(app, client, holder, phone: str = PHONE) -> str:
    """Request a code and sign in with the real name; returns the session token."""
    assert request_code(client, phone).status_code == 202
    response = sign_in(client, phone, latest_code(app, phone), **holder.real_name)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def test_a_cardholder_binds_the_phone_and_signs_in_with_the_code_from_the_outbox(
    app, client, holder
):
    sent = request_code(client, PHONE)
    assert sent.status_code == 202
    assert sent.get_json() == {"sent": True, "expires_in": 300, "resend_after": 60}

    response = sign_in(client, PHONE, latest_code(app, PHONE), **holder.real_name)
    assert response.status_code == 200
    body = response.get_json()
    assert body["token"].startswith("ch_")
    assert body["expires_in"] == 30 * 24 * 3600
    assert body["bound"] is True
    assert body["person"] == {
        "name_masked": "陈*明",
        "id_number_masked": holder.id_number[:4] + "*" * 10 + holder.id_number[-4:],
    }
    me = client.get("/mobile/v1/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.get_json()["name_masked"] == "陈*明"


def test_a_bound_phone_signs_in_again_without_the_id_number(app, client, holder):
    bind(app, client, holder)
    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=False):
        assert request_code(client, PHONE).status_code == 202
        again = sign_in(client, PHONE, latest_code(app, PHONE))
    assert again.status_code == 200
    assert again.get_json()["person"]["name_masked"] == "陈*明"


def test_an_unbound_phone_needs_the_id_number_and_name(app, client, holder):
    request_code(client, PHONE)
    code = latest_code(app, PHONE)
    missing = sign_in(client, PHONE, code, id_number=holder.id_number)
    assert missing.status_code == 422
    assert missing.get_json()["code"] == "auth.real_name_required"
    # The code is still good: asking for the real name consumed nothing.
    assert sign_in(client, PHONE, code, **holder.real_name).status_code == 200


def test_a_wrong_name_gets_the_same_answer_as_an_unknown_id_number(app, client, holder):
    from tests.conftest import valid_id

    request_code(client, PHONE)
    code = latest_code(app, PHONE)
    wrong_name = sign_in(client, PHONE, code, id_number=holder.id_number, name="陈大明")
    unknown_id = sign_in(client, PHONE, code, id_number=valid_id(seq="999"), name=holder.name)
    assert wrong_name.status_code == unknown_id.status_code == 403
    assert (
        wrong_name.get_json()["code"]
        == unknown_id.get_json()["code"]
        == ("auth.real_name_mismatch")
    )
    assert [wrong_name.get_json()["tries_left"], unknown_id.get_json()["tries_left"]] == [4, 3]
    assert sign_in(client, PHONE, code, **holder.real_name).status_code == 200


def test_a_person_without_a_usable_card_cannot_sign_in(app, client, make_holder):
    cardless = make_holder(card=False)
    request_code(client, PHONE)
    response = sign_in(client, PHONE, latest_code(app, PHONE), **cardless.real_name)
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.no_usable_card"
    with app.app_context():
        assert db.session.execute(select(PhoneBinding)).first() is None


def test_a_code_works_only_once(app, client, holder):
    request_code(client, PHONE)
    code = latest_code(app, PHONE)
    assert sign_in(client, PHONE, code, **holder.real_name).status_code == 200
    replay = sign_in(client, PHONE, code)
    assert replay.status_code == 401
    assert replay.get_json()["code"] == "sms.code_expired"


def test_a_wrong_code_is_refused_with_the_tries_left(app, client, holder):
    request_code(client, PHONE)
    response = sign_in(client, PHONE, wrong(latest_code(app, PHONE)), **holder.real_name)
    assert response.status_code == 401
    assert response.get_json()["code"] == "sms.code_incorrect"
    assert response.get_json()["tries_left"] == 4


def test_the_fifth_wrong_try_kills_the_code(app, client, holder):
    request_code(client, PHONE)
    code = latest_code(app, PHONE)
    answers = [sign_in(client, PHONE, wrong(code)).get_json() for _ in range(5)]
    assert [a["code"] for a in answers[:4]] == ["sms.code_incorrect"] * 4
    assert [a["tries_left"] for a in answers[:4]] == [4, 3, 2, 1]
    assert answers[4]["code"] == "sms.code_locked"
    right = sign_in(client, PHONE, code, **holder.real_name)
    assert right.status_code == 423
    assert right.get_json()["code"] == "sms.code_locked"


def test_no_code_sent_is_the_same_as_an_expired_code(client, holder):
    response = sign_in(client, PHONE, "123456", **holder.real_name)
    assert response.status_code == 401
    assert response.get_json()["code"] == "sms.code_expired"


def test_a_second_code_within_60_seconds_is_refused(client):
    assert request_code(client, PHONE).status_code == 202
    again = request_code(client, PHONE)
    assert again.status_code == 429
    assert again.get_json()["code"] == "sms.too_soon"
    assert 0 < again.get_json()["retry_after"] <= 60


def test_codes_to_one_phone_are_rate_limited(app, client):
    app.config["SSC_SMS_RESEND_SECONDS"] = 0
    app.config["SSC_RATELIMIT_SMS_PHONE"] = "2 per hour"
    codes = [request_code(client, PHONE).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    limited = request_code(client, PHONE)
    assert limited.get_json()["code"] == "request.rate_limited"
    assert "Retry-After" in limited.headers
    assert request_code(client, OTHER_PHONE).status_code == 202


def test_a_code_refused_as_too_soon_does_not_use_up_the_hourly_allowance(app, client):
    app.config["SSC_RATELIMIT_SMS_PHONE"] = "2 per hour"
    assert [request_code(client, PHONE).status_code for _ in range(3)] == [202, 429, 429]
    with time_machine.travel(utcnow() + timedelta(seconds=61), tick=False):
        assert request_code(client, PHONE).status_code == 202


def test_code_requests_from_one_address_are_rate_limited(app, client):
    app.config["SSC_RATELIMIT_SMS_ADDRESS"] = "3 per hour"
    phones = [f"1391234000{i}" for i in range(1, 5)]
    assert [request_code(client, p).status_code for p in phones] == [202, 202, 202, 429]
    other_address = client.post(
        "/mobile/v1/auth/sms-code",
        json={"phone": "13912340009"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert other_address.status_code == 202


def test_an_unknown_phone_gets_the_same_answer_as_a_bound_one(app, client, holder):
    app.config["SSC_SMS_RESEND_SECONDS"] = 0
    bind(app, client, holder)
    bound = request_code(client, PHONE)
    unknown = request_code(client, "13700000000")
    assert bound.status_code == unknown.status_code == 202
    assert bound.get_json() == unknown.get_json()
    assert bound.headers["Content-Type"] == unknown.headers["Content-Type"]


def test_an_invalid_phone_is_refused(client):
    for phone in ("12345678901", "1381234567", "+1 415 555 0100"):
        response = request_code(client, phone)
        assert response.status_code == 422
        assert response.get_json()["code"] == "person.invalid_phone"


def test_sign_in_accepts_the_phone_with_a_country_prefix_and_spaces(app, client, holder):
    request_code(client, "+86 139 1234 0001")
    response = sign_in(client, "139-1234-0001", latest_code(app, PHONE), **holder.real_name)
    assert response.status_code == 200


def test_another_persons_real_name_on_a_bound_phone_is_refused(app, client, holder, make_holder):
    other = make_holder(seq="654", name="林小红")
    app.config["SSC_SMS_RESEND_SECONDS"] = 0
    bind(app, client, holder)
    request_code(client, PHONE)
    response = sign_in(client, PHONE, latest_code(app, PHONE), **other.real_name)
    assert response.status_code == 403
    assert response.get_json()["code"] == "auth.real_name_mismatch"


def test_binding_a_new_phone_revokes_the_old_binding_and_its_sessions(app, client, holder):
    old_token = bind(app, client, holder, PHONE)
    new_token = bind(app, client, holder, OTHER_PHONE)
    assert client.get("/mobile/v1/me", headers=bearer(old_token)).status_code == 401
    assert client.get("/mobile/v1/me", headers=bearer(new_token)).status_code == 200
    with app.app_context():
        rows = db.session.execute(select(PhoneBinding).order_by(PhoneBinding.id)).scalars().all()
        assert [r.revoked_at is None for r in rows] == [False, True]
    # The old phone is no longer bound: it needs the real-name check again.
    app.config["SSC_SMS_RESEND_SECONDS"] = 0
    request_code(client, PHONE)
    response = sign_in(client, PHONE, latest_code(app, PHONE))
    assert response.get_json()["code"] == "auth.real_name_required"


def test_sign_out_revokes_the_token(app, client, holder):
    token = bind(app, client, holder)
    assert client.post("/mobile/v1/auth/sign-out", headers=bearer(token)).status_code == 204
    after = client.get("/mobile/v1/me", headers=bearer(token))
    assert after.status_code == 401
    assert after.get_json()["code"] == "auth.invalid_token"


def test_the_session_token_expires(app, client, holder):
    app.config["SSC_CARDHOLDER_TOKEN_TTL_MINUTES"] = 60
    token = bind(app, client, holder)
    with time_machine.travel(utcnow() + timedelta(minutes=59), tick=False):
        assert client.get("/mobile/v1/me", headers=bearer(token)).status_code == 200
    with time_machine.travel(utcnow() + timedelta(minutes=61), tick=False):
        expired = client.get("/mobile/v1/me", headers=bearer(token))
    assert expired.status_code == 401
    assert expired.get_json()["code"] == "auth.invalid_token"


def test_sign_in_events_are_audited_without_personal_data(app, client, holder):
    from server.security.models import AuditEvent

    bind(app, client, holder)
    with app.app_context():
        events = db.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
        actions = [e.action for e in events]
        text = " ".join(f"{e.actor_label} {e.object_id} {e.detail}" for e in events)
    for action in ("cardholder.sms_code_sent", "cardholder.phone_bound", "cardholder.signed_in"):
        assert action in actions
    for needle in (PHONE, holder.id_number, holder.name):
        assert needle not in text


def test_sign_in_errors_follow_accept_language(app, client):
    response = client.post(
        "/mobile/v1/auth/sign-in",
        json={"phone": PHONE, "code": "123456"},
        headers={"Accept-Language": "en"},
    )
    assert response.get_json()["code"] == "sms.code_expired"
    assert response.headers["Content-Language"] == "en"


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "423" in paths["/mobile/v1/auth/sign-in"]["post"]["responses"]
    assert "202" in paths["/mobile/v1/auth/sms-code"]["post"]["responses"]
    assert paths["/mobile/v1/auth/sign-out"]["post"]["security"] == [{"cardholderToken": []}]
