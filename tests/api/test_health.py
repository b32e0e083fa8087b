"""`/healthz` answers while the process runs; `/readyz` only while the database answers."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_follows_the_database(
    client: FlaskClient, take_database_away: Callable[[], None]
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}

    take_database_away()

    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "storage_unavailable"
    assert client.get("/healthz").status_code == 200
