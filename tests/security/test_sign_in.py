"""Staff sign-in: password + TOTP, enrolment with a QR code, lockout, rate limits, sign-out."""

from __future__ import annotations

import base64
from datetime import timedelta

import pyotp
import pytest

from server.clock import utcnow
from server.extensions import db
from server.security.rules import Role
from server.security.service import create_staff_user
from tests.conftest import STAFF_PASSWORD


@pytest.fixture
def clerk(app, now):
    with app.app_context():
        create_staff_user(
            db.session,
            None,
            username="gz.clerk",
            display_name="黄敏",
            password=STAFF_PASSWORD,
            role=Role.BRANCH_STAFF,
            city_code="440100",
            department=None,
            now=now,
        )
        db.session.remove()
    return "gz.clerk"


def enrol(client, username: str) -> str:
    response = client.post(
        "/staff/v1/auth/totp/enrol", json={"username": username, "password": STAFF_PASSWORD}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["provisioning_uri"].startswith("otpauth://totp/")
    assert base64.b64decode(body["qr_png_base64"]).startswith(b"\x89PNG")
    return body["secret"]


def sign_in(client, username, code, password=STAFF_PASSWORD):
    return client.post(
        "/staff/v1/auth/sign-in", json={"username": username, "password": password, "totp": code}
    )


def test_enrol_then_sign_in_with_password_and_code(client, clerk):
    secret = enrol(client, clerk)
    response = sign_in(client, clerk, pyotp.TOTP(secret).now())
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["totp_enrolled"] is True
    me = client.get("/staff/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.get_json()["username"] == clerk


def test_sign_in_before_enrolment_is_refused(client, clerk):
    response = sign_in(client, clerk, "123456")
    assert response.status_code == 409
    assert response.get_json()["code"] == "auth.totp_not_enrolled"


def test_enrolment_cannot_be_repeated_once_done(client, clerk):
    secret = enrol(client, clerk)
    sign_in(client, clerk, pyotp.TOTP(secret).now())
    again = client.post(
        "/staff/v1/auth/totp/enrol", json={"username": clerk, "password": STAFF_PASSWORD}
    )
    assert again.status_code == 409
    assert again.get_json()["code"] == "auth.totp_already_enrolled"


def test_wrong_password_is_401(client, clerk):
    response = sign_in(client, clerk, "123456", password="Wrong-password-1")
    assert response.status_code == 401
    assert response.get_json()["code"] == "auth.invalid_credentials"


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client):
    response = sign_in(client, "nobody", "123456")
    assert response.status_code == 401
    assert response.get_json()["code"] == "auth.invalid_credentials"


def test_wrong_totp_is_401(client, clerk):
    secret = enrol(client, clerk)
    code = pyotp.TOTP(secret).now()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = sign_in(client, clerk, wrong)
    assert response.status_code == 401
    assert response.get_json()["code"] == "auth.totp_incorrect"


def test_missing_totp_is_401(client, clerk):
    enrol(client, clerk)
    response = client.post(
        "/staff/v1/auth/sign-in", json={"username": clerk, "password": STAFF_PASSWORD}
    )
    assert response.get_json()["code"] == "auth.totp_required"


def test_a_totp_code_works_only_once(client, clerk):
    secret = enrol(client, clerk)
    code = pyotp.TOTP(secret).now()
    assert sign_in(client, clerk, code).status_code == 200
    replay = sign_in(client, clerk, code)
    assert replay.status_code == 401
    assert replay.get_json()["code"] == "auth.totp_incorrect"


def test_five_failures_lock_the_account(app, client, clerk):
    app.config["SSC_RATELIMIT_ENABLED"] = False
    for _ in range(5):
        sign_in(client, clerk, "123456", password="Wrong-password-1")
    locked = sign_in(client, clerk, "123456")
    assert locked.status_code == 423
    assert locked.get_json()["code"] == "auth.account_locked"


def test_sign_in_is_rate_limited_per_username(app, client, clerk):
    app.config["SSC_RATELIMIT_SIGNIN"] = "3 per minute"
    codes = [sign_in(client, clerk, "123456", password="x").status_code for _ in range(4)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3] == 429


def test_rate_limited_answer_is_problem_json(app, client):
    app.config["SSC_RATELIMIT_SIGNIN"] = "1 per minute"
    sign_in(client, "a", "123456")
    response = sign_in(client, "b", "123456")
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "request.rate_limited"


def test_sign_out_revokes_the_token(client, clerk):
    secret = enrol(client, clerk)
    token = sign_in(client, clerk, pyotp.TOTP(secret).now()).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/staff/v1/auth/sign-out", headers=headers).status_code == 204
    after = client.get("/staff/v1/me", headers=headers)
    assert after.status_code == 401
    assert after.get_json()["code"] == "auth.invalid_token"


def test_expired_tokens_are_refused(app, clerk):
    from sqlalchemy import select

    from server.security.models import StaffUser
    from server.security.rules import ActorKind
    from server.security.service import authenticate, issue_token

    with app.app_context():
        user = db.session.execute(select(StaffUser)).scalar_one()
        past = utcnow() - timedelta(hours=10)
        token = issue_token(db.session, ActorKind.STAFF, user.id, past, ttl=timedelta(hours=8))
        db.session.commit()
        assert authenticate(db.session, token, utcnow()) is None
        assert authenticate(db.session, token, past + timedelta(hours=1)) is not None


def test_weak_staff_passwords_are_refused(client, make_staff):
    admin = make_staff("system_admin")
    response = client.post(
        "/staff/v1/users",
        json={
            "username": "new.clerk",
            "display_name": "新人",
            "password": "short",
            "role": "branch_staff",
            "city_code": "440100",
        },
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert response.get_json()["code"] == "auth.weak_password"


def test_city_admin_creates_branch_staff_in_own_city_only(client, city_admin):
    payload = {
        "username": "gz.new",
        "display_name": "新人",
        "password": "Branch-Clerk-2026!",
        "role": "branch_staff",
        "city_code": "440100",
    }
    assert (
        client.post("/staff/v1/users", json=payload, headers=city_admin.headers).status_code == 201
    )
    other_city = {**payload, "username": "fs.new", "city_code": "440600"}
    response = client.post("/staff/v1/users", json=other_city, headers=city_admin.headers)
    assert response.get_json()["code"] == "auth.out_of_scope"
    admin_role = {**payload, "username": "gz.admin2", "role": "system_admin"}
    response = client.post("/staff/v1/users", json=admin_role, headers=city_admin.headers)
    assert response.get_json()["code"] == "auth.forbidden"
