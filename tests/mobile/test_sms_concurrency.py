"""One SMS code submitted by several phones' requests at once signs in exactly once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from server.extensions import db
from server.security.models import AuthToken, PhoneBinding
from tests.mobile.conftest import PHONE, latest_code, request_code

pytestmark = pytest.mark.postgres_only


def test_the_same_code_from_five_threads_signs_in_exactly_once(app, client, holder):
    assert request_code(client, PHONE).status_code == 202
    payload = {"phone": PHONE, "code": latest_code(app, PHONE), **holder.real_name}
    barrier = threading.Barrier(5)
    results: list[object] = [None] * 5

    def worker(i: int) -> None:
        try:
            own_client = app.test_client()
            barrier.wait(timeout=10)
            response = own_client.post("/mobile/v1/auth/sign-in", json=payload)
            results[i] = (response.status_code, response.get_json().get("code"))
        except Exception as exc:  # pragma: no cover - surfaced by the assertions
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert sorted(results, key=str) == sorted(
        [(200, None)] + [(401, "sms.code_expired")] * 4, key=str
    )
    with app.app_context():
        tokens = db.session.execute(
            select(func.count()).where(AuthToken.kind == "cardholder")
        ).scalar_one()
        bindings = db.session.execute(select(func.count()).select_from(PhoneBinding)).scalar_one()
        db.session.remove()
    assert (tokens, bindings) == (1, 1)
