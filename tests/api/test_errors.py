"""Every failure leaves as JSON with a machine code, and every response carries the security
headers."""

from __future__ import annotations

from typing import NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cartwise.api.headers import API_CSP, PAGE_CSP
from cartwise.errors import Conflict, StorageError


def error_of(response: object) -> dict[str, str]:
    body = response.get_json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    return error


def test_unknown_path_is_json_404(client: FlaskClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert error_of(response)["code"] == "not_found"
    assert "/v1/nothing-here" in error_of(response)["message"]


def test_wrong_method_is_json_405_with_allow(client: FlaskClient) -> None:
    response = client.get("/v1/recommendations")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]
    assert response.mimetype == "application/json"


def boom() -> NoReturn:
    raise RuntimeError("connection string postgres://admin:hunter2@db")


def storage_down() -> NoReturn:
    raise StorageError("The database does not answer.")


def conflict() -> NoReturn:
    raise Conflict("That version already exists.", version=3)


@pytest.fixture
def failing(app: Flask) -> FlaskClient:
    app.add_url_rule("/boom", view_func=boom)
    app.add_url_rule("/storage-down", view_func=storage_down)
    app.add_url_rule("/conflict", view_func=conflict)
    return app.test_client()


def test_unexpected_errors_are_500_without_details(
    failing: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = failing.get("/boom")
    assert response.status_code == 500
    assert error_of(response) == {
        "code": "internal_error",
        "message": "Something went wrong on our side.",
    }
    text = response.get_data(as_text=True)
    assert "hunter2" not in text
    assert "Traceback" not in text
    assert any("hunter2" in (r.exc_text or "") for r in caplog.records)


def test_cartwise_errors_keep_their_status_code_and_details(failing: FlaskClient) -> None:
    response = failing.get("/storage-down")
    assert response.status_code == 503
    assert error_of(response)["code"] == "storage_unavailable"

    response = failing.get("/conflict")
    assert response.status_code == 409
    assert response.get_json() == {
        "error": {
            "code": "conflict",
            "message": "That version already exists.",
            "details": {"version": 3},
        }
    }


@pytest.mark.parametrize(
    ("path", "csp"),
    [
        pytest.param("/", PAGE_CSP, id="page"),
        pytest.param("/healthz", API_CSP, id="json"),
        pytest.param("/v1/nothing-here", API_CSP, id="error"),
    ],
)
def test_security_headers_on_every_response(client: FlaskClient, path: str, csp: str) -> None:
    response = client.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"] == csp


def test_page_policy_allows_only_the_app_itself() -> None:
    directives = dict(d.strip().split(" ", 1) for d in PAGE_CSP.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in PAGE_CSP
    assert "http" not in PAGE_CSP
