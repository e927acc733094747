"""One signed request sent five times at once: exactly one copy passes (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from server.clock import utcnow
from server.terminals.rules import sign_headers
from tests.terminals.conftest import nonce_count

pytestmark = pytest.mark.postgres_only

VERIFY = "/terminal/v1/verify"


@pytest.mark.parametrize("path", ["/terminal/v1/trust-list", VERIFY])
def test_five_copies_of_one_request_pass_once(app, gate, fake_credentials, path):
    method = "POST" if path == VERIFY else "GET"
    body = b'{"code":"SC1:AAAA","scene":"transit"}' if method == "POST" else b""
    headers = sign_headers(gate.code, gate.secret, method, path, body, utcnow())
    barrier = threading.Barrier(5)
    results: list = [None] * 5

    def send(i: int) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            response = client.open(
                path,
                method=method,
                headers=headers,
                data=body or None,
                content_type="application/json" if body else None,
            )
            results[i] = (response.status_code, (response.get_json(silent=True) or {}).get("code"))
        except Exception as exc:  # pragma: no cover - surfaced by the assertions
            results[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    assert sorted(results, key=str) == sorted(
        [(200, None)] + [(401, "terminal.nonce_reused")] * 4, key=str
    )
    assert nonce_count(app) == 1
    if method == "POST":
        assert len(fake_credentials.verify_calls) == 1
