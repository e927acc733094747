"""The application shell: health, readiness, OpenAPI, docs, request ids, errors."""

from __future__ import annotations

import pytest

from server import create_app
from server.apidoc import _RULE_ARG


def test_healthz_does_not_need_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["database"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path, keys_dir):
    app = create_app(
        {
            "TESTING": True,
            "SSC_KEYS_DIR": keys_dir,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}},
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "fail"


def test_request_ids_are_echoed_or_made(client):
    given = client.get("/healthz", headers={"X-Request-Id": "abc12345-req"})
    assert given.headers["X-Request-Id"] == "abc12345-req"
    made = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert len(made.headers["X-Request-Id"]) == 32


def test_no_cookie_session_is_read_or_written(app, client):
    """Callers authenticate by header; a cookie session would only cost work on every request."""
    import flask

    client.set_cookie("session", "eyJ4IjoxfQ.forged.cookie")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    with app.test_request_context("/healthz", headers={"Cookie": "session=anything"}):
        app.preprocess_request()
        assert isinstance(flask.session, flask.sessions.NullSession)
        with pytest.raises(RuntimeError):
            flask.session["staff"] = 1


def test_unknown_route_is_problem_json(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "request.not_found"


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.get_json()["code"] == "request.method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_openapi_describes_every_api_route(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not hasattr(view, "__openapi__"):
            continue
        path = _RULE_ARG.sub(lambda m: "{" + m.group("name") + "}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented
    register = spec["paths"]["/staff/v1/persons"]["post"]
    assert "422" in register["responses"]
    body_ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert schema["additionalProperties"] is False
    assert "id_number" in schema["required"]


def test_docs_page_and_assets_are_served_locally(client):
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "http" not in html.split("<body>")[1].replace('url: "/openapi.json"', "")
    with client.get("/docs/static/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200
        assert len(asset.get_data()) > 100_000


def test_database_url_forms_are_normalised():
    from server.config import load_env

    env = load_env({"DATABASE_URL": "postgres://u@h/db", "SSC_PIN_MAX_TRIES": "5"})
    assert env["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert env["SSC_PIN_MAX_TRIES"] == 5


def test_development_shares_a_sandbox_bank_and_tests_keep_theirs_in_memory(tmp_path, keys_dir):
    from server.ledger.bank import SandboxBank, SimulatedBank

    path = tmp_path / "bank.json"
    dev = {"SSC_KEYS_DIR": keys_dir, "SSC_BANK_SANDBOX_PATH": str(path)}
    server, job = create_app(dev), create_app(dev)  # the API server and `flask transit collect`
    assert isinstance(server.extensions["ssc.bank"], SandboxBank)
    server.extensions["ssc.bank"].open_account("6217003320012345678", 500)
    assert job.extensions["ssc.bank"].balance("6217003320012345678") == 500
    testing = create_app({"TESTING": True, "SSC_KEYS_DIR": keys_dir})
    assert type(testing.extensions["ssc.bank"]) is SimulatedBank
    with pytest.raises(RuntimeError):
        create_app({**dev, "SSC_BANK_GATEWAY": "icbc"})
