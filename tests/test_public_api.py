"""The public surface: each package's `__all__` is the sorted list below, and every name in it
resolves. Changing the surface means changing this file on purpose."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

PUBLIC = {
    "cartwise": ["CartwiseError", "Settings", "__version__", "create_app"],
    "cartwise.errors": [
        "CartwiseError",
        "ConfigurationError",
        "Conflict",
        "DataImportError",
        "Forbidden",
        "InvalidPayload",
        "InvalidRequest",
        "InvalidSignature",
        "ModelNotTrained",
        "NotFound",
        "RateLimited",
        "StorageError",
        "Unauthorized",
        "UnknownShop",
        "UpstreamError",
        "UpstreamRejected",
        "UpstreamTimeout",
    ],
    "cartwise.experiments": [
        "Anomaly",
        "Arm",
        "ArmComparison",
        "ArmKpis",
        "Assignment",
        "AttributedOrder",
        "ChiSquareTest",
        "Decision",
        "Experiment",
        "Exposure",
        "Interaction",
        "ItemStats",
        "OrderFact",
        "OrderLineFact",
        "PlacementKpis",
        "ProportionTest",
        "Silence",
        "SummaryStats",
        "WelchTest",
        "arm_kpis",
        "assign",
        "attribute",
        "chi_square_2xk",
        "choose",
        "compare",
        "decide",
        "detect",
        "ewma_zscores",
        "exploration_slots",
        "sample_size_two_proportions",
        "silence",
        "two_proportion_z_test",
        "welch_t_test",
    ],
    "cartwise.recommender": ["HybridRecommender", "Interaction", "Item", "Recommendation"],
    "cartwise.sdk": [
        "AsyncCartwiseClient",
        "BreakerPolicy",
        "BreakerState",
        "BudgetExceeded",
        "CachePolicy",
        "CallInfo",
        "CartItem",
        "CartwiseClient",
        "CircuitOpen",
        "ClientError",
        "ConnectionFailed",
        "InvalidResponse",
        "RecommendationItem",
        "RecommendationResponse",
        "RequestContext",
        "RetryPolicy",
        "SdkError",
        "ServerDefaultsPolicy",
        "ServerError",
        "TrackPolicy",
        "TrackStats",
        "TrackedEvent",
    ],
    "cartwise.sdk.errors": [
        "BudgetExceeded",
        "CircuitOpen",
        "ClientError",
        "ConnectionFailed",
        "InvalidResponse",
        "SdkError",
        "ServerError",
    ],
    "cartwise.storage": [
        "ApiKeyRecord",
        "DeadLetter",
        "Install",
        "Job",
        "MagentoStore",
        "ModelArtifact",
        "RawEvent",
        "Store",
        "SyncState",
        "Transaction",
        "VariantRecord",
        "open",
    ],
}

CASES = [pytest.param(module, names, id=module) for module, names in PUBLIC.items()]
HEAVY = ["flask", "sqlalchemy", "numpy", "scipy"]
LIGHT = ["cartwise", "cartwise.errors", "cartwise.domain", "cartwise.schemas", "cartwise.sdk"]


@pytest.mark.parametrize(
    ("module", "expected"), [pytest.param(m, e, id=m) for m, e in PUBLIC.items()]
)
def test_all_is_the_sorted_public_surface(module: str, expected: list[str]) -> None:
    assert expected == sorted(expected)
    exported = importlib.import_module(module).__all__
    assert exported == expected


@pytest.mark.parametrize(
    ("module", "expected"), [pytest.param(m, e, id=m) for m, e in PUBLIC.items()]
)
def test_every_public_name_resolves(module: str, expected: list[str]) -> None:
    imported = importlib.import_module(module)
    for name in expected:
        assert getattr(imported, name) is not None, name


def test_unknown_attribute_of_the_package_is_an_attribute_error() -> None:
    import cartwise

    with pytest.raises(AttributeError):
        cartwise.no_such_name  # noqa: B018


def test_every_error_is_a_cartwise_error_with_a_code_and_status() -> None:
    errors = importlib.import_module("cartwise.errors")
    codes = set()
    for name in PUBLIC["cartwise.errors"]:
        error = getattr(errors, name)
        assert issubclass(error, errors.CartwiseError)
        assert 400 <= error.status < 600
        codes.add(error.code)
    assert len(codes) == len(PUBLIC["cartwise.errors"])


@pytest.mark.parametrize(
    "module", ["cartwise", "cartwise.errors", "cartwise.domain", "cartwise.schemas"]
)
def test_importing_the_light_modules_loads_no_server_dependency(module: str) -> None:
    script = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in json.loads(result.stdout)}
    assert module.split(".")[0] in loaded
    assert sorted(loaded & set(HEAVY)) == []
