#!/usr/bin/env bash
# The SDK installs and works alone: a fresh venv in a temporary folder gets the repository's
# base package only (no extras), then a short script checks that none of the server's stack
# (Flask, SQLAlchemy, numpy, scipy) is installed, imports cartwise.sdk and makes one call
# through a fake transport. Exits non-zero on any failure.
#
#     bash scripts/check_sdk_alone.sh            # PYTHON=python3.12 to pick the interpreter
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$repo"

# Run from the temporary folder, so that the checkout itself is not importable.
cd "$work"
"$work/venv/bin/python" - <<'PY'
import importlib.util
import sys

heavy = [name for name in ("flask", "sqlalchemy", "numpy", "scipy") if importlib.util.find_spec(name)]
if heavy:
    sys.exit(f"the base package pulled in the server's stack: {heavy}")

import httpx

import cartwise.sdk
from cartwise.sdk import CartwiseClient

if "/site-packages/" not in cartwise.sdk.__file__:
    sys.exit(f"cartwise.sdk came from {cartwise.sdk.__file__}, not from the installed package")

answer = {
    "items": [{"product_id": "p2", "title": "Mug", "reason": "Often bought with Tea", "score": 1.0}],
    "source": "model",
    "model_version": 1,
    "request_id": "0" * 32,
}
server = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
with CartwiseClient("http://cartwise.test", "ck_test", transport=server) as client:
    got = client.recommend(["p1"], session_id="s", k=4)
if (got.source, [item.product_id for item in got.items]) != ("model", ["p2"]):
    sys.exit(f"unexpected answer: {got!r}")
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"flask", "sqlalchemy", "numpy", "scipy"})
if loaded:
    sys.exit(f"using the SDK loaded {loaded}")
print(f"ok: cartwise.sdk alone, Python {sys.version.split()[0]}, httpx {httpx.__version__}")
PY
