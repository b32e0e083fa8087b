"""Schemathesis against the document `/openapi.json` serves: every operation, in-process over
WSGI, with a fixed seed and derandomized generation, at least `EXAMPLES` fuzzed cases each
(`CARTWISE_SCHEMATHESIS_EXAMPLES`, default 200) on top of the examples and coverage phases.

All of schemathesis's checks run, among them `not_a_server_error`, `status_code_conformance`,
`content_type_conformance`, `response_schema_conformance`, `negative_data_rejection` (invalid
input gets a 4xx) and `positive_data_acceptance`. Each operation meets a fresh two-shop world
(see `test_auth.build_world`) holding an API key of each scope, sent the way each route takes
it, and app-proxy calls are signed as Shopify's proxy signs them. Webhook signatures and
session tokens are not forged here: those routes must answer 401, never 500.

The operations are collected from `build_spec`, before any app exists (schemathesis's lazy
`from_fixture` loader does not run on this pytest); `test_the_document_is_the_served_one`
ties that to what `/openapi.json` serves.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import AuthContext, Case

from cartwise.api.auth import reset_bad_key_counts
from cartwise.api.openapi import build_spec
from cartwise.pseudonyms import api_key_hash
from cartwise.settings import RateLimitSettings

from .shopify import SHOP_A, proxy_query
from .test_auth import World, build_world

EXAMPLES = int(os.environ.get("CARTWISE_SCHEMATHESIS_EXAMPLES", "200"))
SEED = 20261101
STOREFRONT_KEY = "cw_schemathesis-storefront-0000000000000000000000"
ADMIN_KEY = "cw_schemathesis-admin-00000000000000000000000000000"
"""Fixed, because the coverage phase builds its cases (credentials included) at collection."""
PROXY_MARK = "signed-by-the-app-proxy"
_PROXY_OWN = {"shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature"}
"""The parameters Shopify's app proxy sets itself, whatever the storefront sent."""

# A 422 for a body valid by the schema is right where a rule spans several fields, which JSON
# Schema cannot state: a price band whose minimum is above its maximum; an experiment without
# exactly one control arm, with repeated arm keys, or without a plan (its visitors per arm, or
# the conversion and effect to compute them from).
_CROSS_FIELD_RULES = ["putRules", "startExperiment"]
_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
"""schemathesis's own default for `positive_data_acceptance`."""
_REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""schemathesis's own default for `negative_data_rejection` (5xx aside: a server error is
never a rejection here), and 413: a body over 1 MB is refused before it is read, whatever
else is wrong with it."""

_CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        # The WSGI transport does not decode a gzip body; compression has its own tests.
        "headers": {"Accept-Encoding": "identity"},
        "checks": {"negative_data_rejection": {"expected-statuses": _REJECTED}},
        "operations": [
            {
                "include-operation-id": operation,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*_ACCEPTED, "422"]}},
            }
            for operation in _CROSS_FIELD_RULES
        ],
    }
)
schema = schemathesis.openapi.from_dict(build_spec(demo=False), config=_CONFIG)


class _CurrentApp:
    """The running test's app, behind the WSGI callable the operations were collected with,
    and in front of it Shopify's app proxy for the `/proxy/` routes."""

    app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "no world: use the `world` fixture"
        if environ.get("PATH_INFO", "").startswith("/proxy/"):
            environ = {**environ, "QUERY_STRING": _through_app_proxy(environ["QUERY_STRING"])}
        return self.app(environ, start_response)


def _through_app_proxy(query: str) -> str:
    """The query as Shopify's app proxy forwards it: its own parameters set and everything
    signed. Only a query carrying `PROXY_MARK` is signed; one whose `signature` schemathesis
    left out or broke on purpose passes unchanged."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if ("signature", PROXY_MARK) not in pairs:
        return query
    params: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if key not in _PROXY_OWN:
            known = params.get(key)
            params[key] = value if known is None else [*_listed(known), value]
    own = {"shop": SHOP_A, "logged_in_customer_id": "", "path_prefix": "/apps/cartwise"}
    return proxy_query({**params, **own, "timestamp": str(int(time.time()))})


def _listed(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


_current = _CurrentApp()
schema.app = _current


@schema.auth(refresh_interval=None)
class _Credentials:
    """The admin key on admin and dashboard routes, the storefront key on the storefront's,
    the mark `_through_app_proxy` signs on the app proxy's; left out where schemathesis sends a
    missing or broken credential on purpose."""

    def get(self, case: Case[Any], ctx: AuthContext) -> str | None:
        path = ctx.operation.path
        if path.startswith(("/v1/admin/", "/app/")):
            return ADMIN_KEY
        if path.startswith("/v1/"):
            return STOREFRONT_KEY
        if path.startswith("/proxy/"):
            return PROXY_MARK
        return None

    def set(self, case: Case[Any], data: str, ctx: AuthContext) -> None:
        if data == PROXY_MARK:
            case.query["signature"] = data
        else:
            case.headers["X-Cartwise-Key"] = data


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    # Hundreds of cases a minute per operation: under the shop's admin limit they would be
    # mostly 429s (documented, so accepted) and the routes themselves barely reached. The
    # limits have their own tests.
    built = build_world(tmp_path / "cartwise.db", rate_limits=RateLimitSettings(enabled=False))
    secret = built.settings.effective_secret_key()
    for key, scope in ((STOREFRONT_KEY, "storefront"), (ADMIN_KEY, "admin")):
        built.store.api_keys.add(
            SHOP_A, key_hash=api_key_hash(secret, key), prefix=key[:10], label=scope, scope=scope
        )
    _current.app = built.app
    yield built
    _current.app = None
    built.store.close()


@schema.parametrize()
# One world per operation: its cases share it, as calls to a running server would.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api(case: Case[Any], world: World) -> None:
    # Broken keys sent on purpose would soon turn every call into a 429 (its own tests are in
    # test_admin); each case starts with a clean count.
    reset_bad_key_counts()
    case.call_and_validate()


def test_the_document_is_the_served_one(world: World) -> None:
    served = world.client.get("/openapi.json").get_json()
    assert served == json.loads(json.dumps(build_spec(demo=False)))
