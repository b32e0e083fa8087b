"""The import layering of DESIGN.md, checked by reading every module of `cartwise/` with `ast`.

An arrow never runs the wrong way: a layer imports only the layers its row of the table names,
Flask stays in the delivery layer, the recommender stays pure, and the SDK and layer 0 stay light.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cartwise"

LAYERS = {
    "errors": 0,
    "domain": 0,
    "schemas": 0,
    "pseudonyms": 0,
    "settings": 1,
    "storage": 2,
    "cache": 2,
    "connector": 2,
    "recommender": 2,
    "experiments": 2,
    "webhooks": 3,
    "training": 4,
    "serving": 4,
    "installs": 4,
    "privacy": 4,
    "jobs": 4,
    "rq_jobs": 4,
    "ingestion": 4,
    "backfill": 4,
    "magento_stores": 4,
    "arms": 4,
    "readouts": 4,
    "evaluation": 4,
    "consent": 4,
    "api": 5,
    "cli": 5,
    "__main__": 5,
}
LAYER_NAMES = {
    0: "vocabulary",
    1: "settings",
    2: "infrastructure / pure logic",
    3: "edge",
    4: "use cases",
    5: "delivery",
}
MAY_IMPORT = {0: {0}, 1: {0}, 2: {0}, 3: {0, 1, 2}, 4: {0, 1, 2, 3}, 5: {0, 1, 2, 3, 4}}
# Arrows inside one layer that the design implies: `cartwise serve` starts the API.
# Use cases compose: the job worker runs ingestion, training and privacy; ingestion hands
# privacy requests to `privacy`, which retrains without the redacted history; backfill stores
# platform history through ingestion's rules and trains; jobs run backfills with the
# install's token; arms hands serving the shopper's treatment; jobs compute experiment readouts;
# a withdrawal of consent queues ingestion's model rebuild.
SAME_LAYER_ARROWS = {
    ("cli", "api"),
    ("__main__", "cli"),
    ("__main__", "api"),
    ("jobs", "ingestion"),
    ("jobs", "training"),
    ("jobs", "privacy"),
    ("ingestion", "privacy"),
    ("ingestion", "training"),
    ("privacy", "training"),
    ("installs", "training"),
    ("backfill", "ingestion"),
    ("backfill", "training"),
    ("jobs", "backfill"),
    ("jobs", "installs"),
    ("installs", "backfill"),
    ("magento_stores", "backfill"),
    ("jobs", "magento_stores"),
    ("arms", "serving"),
    ("jobs", "readouts"),
    ("readouts", "arms"),
    ("consent", "ingestion"),
    ("rq_jobs", "jobs"),
}
SDK = "sdk"
FACADE = "__init__"
FACADE_MAY_IMPORT = {"errors", "api", "settings"}
# What `from cartwise import NAME` really loads, for the facade's lazily exported names.
FACADE_NAMES = {"create_app": "api", "Settings": "settings", "CartwiseError": "errors"}

FLASK = {"flask", "werkzeug"}
FLASK_ALLOWED = {"api", "cli", "__main__"}
IMPURE = FLASK | {"sqlalchemy", "psycopg", "psycopg2", "redis", "rq", "httpx", "requests"}
LIGHT_THIRD_PARTY = {
    0: {"pydantic"},
    SDK: {"pydantic", "httpx", "tenacity", "cachetools"},
}


@dataclass(frozen=True)
class Import:
    line: int
    target: str  # a dotted module name, absolute


def imports_of(module: str, source: str, *, is_package: bool) -> list[Import]:
    """Every import in `source` (also inside functions and TYPE_CHECKING blocks), resolved to
    absolute module names; `from cartwise import x` yields `cartwise.x`."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            found.extend(Import(node.lineno, f"{origin}.{alias.name}") for alias in node.names)
    return found


def component_of(target: str) -> str | None:
    """The cartwise component a dotted name belongs to, or None outside cartwise."""
    parts = target.split(".")
    if parts[0] != "cartwise":
        return None
    if len(parts) == 1:
        return "errors"
    name = parts[1]
    if name in LAYERS or name == SDK:
        return name
    return FACADE_NAMES.get(name, "errors")


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """What is wrong with the imports of `module` (e.g. `cartwise.recommender.hybrid`)."""
    parts = module.split(".")
    own = FACADE if len(parts) == 1 else parts[1]
    if own != FACADE and own != SDK and own not in LAYERS:
        return [f"{module}: component {own!r} is not in DESIGN.md's layer table"]
    problems: list[str] = []
    for imp in imports_of(module, source, is_package=is_package):
        where = f"{module}:{imp.line} imports {imp.target}"
        top = imp.target.split(".")[0]
        target = component_of(imp.target)
        if target is None:
            problems.extend(f"{where}: {rule}" for rule in _third_party_rules(own, top))
        elif target != own:
            problems.extend(f"{where}: {rule}" for rule in _cartwise_rules(own, target))
    return problems


def _cartwise_rules(own: str, target: str) -> list[str]:
    if own == FACADE:
        ok = target in FACADE_MAY_IMPORT
        return [] if ok else [f"the package facade imports only {sorted(FACADE_MAY_IMPORT)}"]
    if target == SDK:
        return ["the sdk is a client; nothing in the server imports it"]
    if own == SDK:
        return [] if LAYERS[target] == 0 else ["the sdk imports only layer 0"]
    mine, theirs = LAYERS[own], LAYERS[target]
    if theirs in MAY_IMPORT[mine] or (own, target) in SAME_LAYER_ARROWS:
        return []
    return [
        f"layer {mine} ({LAYER_NAMES[mine]}) may not import {target}, "
        f"layer {theirs} ({LAYER_NAMES[theirs]})"
    ]


def _third_party_rules(own: str, top: str) -> list[str]:
    if top in sys.stdlib_module_names or top == "__future__":
        return []
    rules = []
    if top in FLASK and own not in FLASK_ALLOWED:
        rules.append("Flask is imported only in cartwise/api and cartwise/cli.py")
    if own == "recommender" and top in IMPURE:
        rules.append("the recommender is pure: no Flask, database or network")
    # `import cartwise` must work with the SDK alone, so the facade is held to the SDK's rule.
    light = LIGHT_THIRD_PARTY.get(SDK if own in (SDK, FACADE) else LAYERS.get(own, -1))
    if light is not None and top not in light:
        rules.append(f"must stay installable with the SDK alone (allowed: {sorted(light)})")
    return rules


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found.append((".".join(parts), path))
    return found


@pytest.mark.parametrize(("module", "path"), [pytest.param(m, p, id=m) for m, p in _modules()])
def test_imports_follow_the_layers(module: str, path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert violations(module, source, is_package=path.name == "__init__.py") == []


def test_the_package_is_found() -> None:
    names = {module for module, _ in _modules()}
    assert {"cartwise", "cartwise.errors", "cartwise.storage"} <= names


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        pytest.param(
            "cartwise.recommender.hybrid",
            "from cartwise.storage import Store",
            "layer 2 (infrastructure / pure logic) may not import storage",
            id="peer-in-layer-2",
        ),
        pytest.param(
            "cartwise.recommender.hybrid",
            "from ..settings import Settings",
            "may not import settings",
            id="relative-upward",
        ),
        pytest.param(
            "cartwise.storage.orders",
            "def f():\n    from cartwise import serving\n",
            "may not import serving",
            id="inside-a-function",
        ),
        pytest.param(
            "cartwise.training",
            "from cartwise import create_app",
            "may not import api",
            id="facade-name",
        ),
        pytest.param(
            "cartwise.serving", "import flask", "Flask is imported only", id="flask-outside-api"
        ),
        pytest.param(
            "cartwise.recommender.hybrid",
            "import sqlalchemy as sa",
            "the recommender is pure",
            id="impure-recommender",
        ),
        pytest.param(
            "cartwise.sdk.client", "import numpy", "installable with the SDK", id="heavy-sdk"
        ),
        pytest.param(
            "cartwise.sdk.client", "from cartwise.settings import X", "only layer 0", id="sdk-up"
        ),
        pytest.param(
            "cartwise.domain", "import sqlalchemy", "installable with the SDK", id="heavy-layer-0"
        ),
        pytest.param(
            "cartwise.api.app", "from cartwise.sdk import Client", "the sdk is a client", id="sdk"
        ),
        pytest.param("cartwise.api.app", "from cartwise import cli", "may not import cli", id="up"),
        pytest.param(
            "cartwise.gadgets", "import json", "not in DESIGN.md's layer table", id="unknown"
        ),
    ],
)
def test_the_checker_catches_a_bad_import(module: str, source: str, expected: str) -> None:
    found = violations(module, source)
    assert len(found) == 1
    assert expected in found[0]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        pytest.param("cartwise.webhooks.ingest", "from cartwise.storage import Store", id="down"),
        pytest.param("cartwise.recommender.hybrid", "from . import types", id="own-component"),
        pytest.param("cartwise.schemas", "from cartwise.domain import Cart", id="layer-0-peers"),
        pytest.param("cartwise.api.app", "import flask\nfrom cartwise import serving", id="api"),
        pytest.param("cartwise.sdk.client", "import httpx\nfrom cartwise import schemas", id="sdk"),
        pytest.param("cartwise", "from cartwise.api import create_app", id="facade"),
        pytest.param("cartwise.cli", "from cartwise import __version__", id="facade-version"),
        pytest.param("cartwise.cli", "from cartwise.api import create_app", id="cli-serves-api"),
    ],
)
def test_the_checker_allows_what_the_table_allows(module: str, source: str) -> None:
    assert violations(module, source, is_package=module == "cartwise") == []
