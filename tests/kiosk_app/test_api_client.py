"""The kiosk's API client: signing, timeouts and retries, error mapping."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from kiosk_app.api_client import ApiError, KioskApi, ServerUnreachable
from kiosk_app.signing import sign_headers
from server.terminals import rules


def test_signature_is_the_servers_for_the_same_request():
    body = json.dumps({"entrance": "GDMUSEUM-MAIN"}).encode()
    ours = sign_headers(
        "GZ-KIOSK-01", "s3cret", "post", "/terminal/v1/x?a=1", body, 1763605800, "n" * 20
    )
    theirs = rules.sign_headers(
        "GZ-KIOSK-01", "s3cret", "POST", "/terminal/v1/x?a=1", body, 1763605800, "n" * 20
    )
    assert ours == theirs


class Recorder:
    """A tiny WSGI server whose answers the test scripts: (status, json body) per path."""

    def __init__(self):
        self.routes: dict[str, list[tuple[int, dict | None]]] = {}
        self.hits: list[Request] = []

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.get_data()
        self.hits.append(request)
        answers = self.routes.get(request.path) or [(404, None)]
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        mimetype = "application/problem+json" if status >= 400 else "application/json"
        response = Response(
            json.dumps(body) if body is not None else b"", status=status, mimetype=mimetype
        )
        return response(environ, start_response)


@pytest.fixture
def recorder():
    app = Recorder()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_port}"
    yield app
    server.shutdown()
    thread.join(timeout=5)


def api_for(url: str, **kwargs) -> KioskApi:
    return KioskApi(url, "GZ-KIOSK-01", "s3cret", clock=lambda: 1763605800, **kwargs)


def test_terminal_calls_carry_a_valid_signature(recorder):
    recorder.routes["/terminal/v1/card-challenges"] = [(201, {"challenge_id": "c"})]
    api_for(recorder.url).card_challenge()
    hit = recorder.hits[-1]
    assert rules.signature_matches(
        "s3cret",
        hit.headers["X-Signature"],
        method="POST",
        path=hit.path,
        query="",
        timestamp=hit.headers["X-Timestamp"],
        nonce=hit.headers["X-Nonce"],
        body=hit.get_data(),
    )
    assert hit.headers["X-Terminal-Id"] == "GZ-KIOSK-01"


def test_problem_json_becomes_api_error_with_its_extra_fields(recorder):
    recorder.routes["/terminal/v1/activations/a/identity"] = [
        (
            422,
            {"code": "activation.identity_mismatch", "title": "x", "status": 422, "tries_left": 1},
        )
    ]
    with pytest.raises(ApiError) as excinfo:
        api_for(recorder.url).confirm_identity("a", "12345X")
    assert excinfo.value.code == "activation.identity_mismatch"
    assert excinfo.value.status == 422 and excinfo.value.extra == {"tries_left": 1}


def test_a_get_is_retried_on_503_but_a_post_is_sent_once(recorder):
    recorder.routes["/terminal/v1/help-requests/3"] = [(503, None), (200, {"status": "open"})]
    assert api_for(recorder.url).help_status(3) == {"status": "open"}
    assert len(recorder.hits) == 2
    recorder.routes["/terminal/v1/help-requests"] = [(503, None), (201, {"id": 1})]
    with pytest.raises(ServerUnreachable):
        api_for(recorder.url).request_help("other")
    assert [h.path for h in recorder.hits].count("/terminal/v1/help-requests") == 1


def test_cancel_help_is_signed_and_asked_once_more_when_the_answer_is_lost(recorder):
    path = "/terminal/v1/help-requests/3/cancel"
    recorder.routes[path] = [(503, None), (200, {"id": 3, "status": "cancelled"})]
    assert api_for(recorder.url, retries=0).cancel_help(3)["status"] == "cancelled"
    hits = [h for h in recorder.hits if h.path == path]
    assert len(hits) == 2 and all(h.method == "POST" for h in hits)
    assert hits[0].headers["X-Nonce"] != hits[1].headers["X-Nonce"]  # each try signed afresh


def test_cancel_help_after_a_claim_is_an_api_error_not_retried(recorder):
    path = "/terminal/v1/help-requests/4/cancel"
    problem = {"code": "help.already_claimed", "title": "x", "status": 409}
    recorder.routes[path] = [(409, problem)]
    with pytest.raises(ApiError) as excinfo:
        api_for(recorder.url).cancel_help(4)
    assert excinfo.value.code == "help.already_claimed"
    assert [h.path for h in recorder.hits].count(path) == 1


def test_staff_calls_send_the_bearer_token_and_sign_out_forgets_it(recorder):
    recorder.routes["/staff/v1/auth/sign-in"] = [(200, {"token": "tok", "user": {}})]
    recorder.routes["/staff/v1/persons/search"] = [(200, {"id": 1})]
    api = api_for(recorder.url)
    api.staff_sign_in("u", "p", "123456")
    api.find_person("440106199001011234")
    assert recorder.hits[-1].headers["Authorization"] == "Bearer tok"
    api.staff_sign_out()
    assert not api.staff_signed_in
    with pytest.raises(ApiError) as excinfo:
        api.find_person("x")
    assert excinfo.value.code == "auth.unauthenticated"


def test_a_closed_port_is_server_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServerUnreachable):
        api_for(f"http://127.0.0.1:{port}", retries=0).card_challenge()


def test_a_slow_server_times_out_as_unreachable():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts connections but never answers
        port = listener.getsockname()[1]
        api = api_for(f"http://127.0.0.1:{port}", timeout=(0.5, 0.3), retries=0)
        with pytest.raises(ServerUnreachable):
            api.card_challenge()


def test_signed_challenge_against_the_real_server(app, base_url, now):
    from server.extensions import db
    from server.terminals import service

    with app.app_context():
        _terminal, secret = service.register_terminal(
            db.session,
            None,
            code="GZ-KIOSK-09",
            kind="kiosk",
            city_code="440100",
            owner="测试",
            now=now,
        )
        db.session.remove()
    body = KioskApi(base_url, "GZ-KIOSK-09", secret).card_challenge()
    assert len(body["challenge"]) == 16 and body["challenge_id"]
