"""`make audit` (scripts/audit_dependencies.py) against a local OSV-compatible server, so that what
it does with a finding, with a clean answer and with no answer is checked without the internet."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "audit_dependencies.py"
VULNERABLE = "flask"
ADVISORY = {
    "id": "GHSA-test-0000-0000",
    "aliases": ["CVE-2099-0001"],
    "summary": "a made-up advisory",
    "affected": [
        {
            "package": {"name": VULNERABLE, "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}],
        }
    ],
}


def _osv_server(vulnerable: set[str]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            found = query["package"]["name"] in vulnerable
            body = json.dumps({"vulns": [ADVISORY]} if found else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def clean_osv() -> Iterator[str]:
    yield from _osv_server(set())


@pytest.fixture
def flask_vulnerable_osv() -> Iterator[str]:
    yield from _osv_server({VULNERABLE})


def _audit(osv_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(SCRIPT), "--service", "osv", "--osv-url", osv_url, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_a_known_vulnerability_fails_even_where_unreachable_is_allowed(
    flask_vulnerable_osv: str,
) -> None:
    done = _audit(flask_vulnerable_osv, "--unreachable-ok")
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("vulnerable: ")]
    assert line.startswith(f"vulnerable: flask {version('flask')}: ")
    assert "GHSA-test-0000-0000" in line and "CVE-2099-0001" in line
    assert line.endswith("(fixed in 99.0)")
    assert "1 known vulnerabilities (osv)" in done.stdout


def test_a_clean_answer_passes_and_counts_what_was_audited(clean_osv: str) -> None:
    done = _audit(clean_osv)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no known vulnerabilities in " in done.stdout
    audited = int(done.stdout.split("no known vulnerabilities in ")[1].split()[0])
    assert audited > 20  # the server's dependencies, not only the editable cartwise


def test_no_service_is_reported_and_fails_only_without_unreachable_ok() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1/query"
    strict = _audit(closed)
    assert strict.returncode == 2, strict.stdout + strict.stderr
    assert strict.stdout.startswith("vulnerability service unreachable: not audited (osv: ")
    lenient = _audit(closed, "--unreachable-ok")
    assert lenient.returncode == 0
    assert lenient.stdout.startswith("vulnerability service unreachable: not audited")
