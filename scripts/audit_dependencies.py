"""Known vulnerabilities in the installed dependencies, with pip-audit: `make audit`.

    python scripts/audit_dependencies.py [--unreachable-ok] [--service pypi|osv] [--osv-url URL]

Exit 0: audited, nothing known. 1: a known vulnerability (each is printed with the releases that
fix it: raise that package's lower bound in pyproject.toml). 2: no vulnerability service could be
reached, so nothing was audited; `--unreachable-ok` (what `make lint` passes) reports that on one
line and exits 0, so that lint does not fail on a machine without the services.

pip-audit's own exit code is not enough: where PyPI's index is reachable but its per-release JSON
answers 404 (a mirror or a filtering proxy), it skips every package as "not found on PyPI" and
still prints "No known vulnerabilities found" with exit 0. Here a run that audited nothing counts
as unreachable, and the next service is tried.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field

EXIT_FOUND = 1
EXIT_UNREACHABLE = 2
SERVICES = ("pypi", "osv")
BUDGET_SECONDS = 90.0
"""All services together: lint stays fast on a machine whose network drops packets."""
_NETWORK_ERRORS = (
    "ConnectionError",
    "Could not connect",
    "NameResolutionError",
    "Max retries exceeded",
    "timed out",
    "Timeout",
)
_NOT_ON_INDEX = "not found on PyPI"
_EDITABLE = "marked as editable"


@dataclass
class Audit:
    """What one service said about the environment."""

    service: str
    audited: int = 0
    unaudited: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    failure: str = ""
    """Why nothing was audited (the service could not be reached), else empty."""


def read_report(service: str, returncode: int, stdout: str, stderr: str) -> Audit:
    """Turn one pip-audit run (`--format json`) into an `Audit`; a run that crashed on anything
    but the network raises RuntimeError, since retrying elsewhere would hide it."""
    audit = Audit(service)
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        last = lines[-1][:200] if lines else f"exit status {returncode}"
        if any(marker in stderr for marker in _NETWORK_ERRORS):
            audit.failure = last
            return audit
        raise RuntimeError(f"pip-audit failed ({service}): {last}") from None
    for dep in report.get("dependencies", []):
        reason = dep.get("skip_reason")
        if reason is not None:
            if _EDITABLE not in reason:
                audit.unaudited.append(f"{dep['name']}: {reason}")
            continue
        audit.audited += 1
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            ids = " ".join([vuln["id"], *vuln.get("aliases", [])])
            audit.findings.append(f"{dep['name']} {dep['version']}: {ids} (fixed in {fixes})")
    if audit.audited == 0 and not audit.findings:
        missing = sum(_NOT_ON_INDEX in line for line in audit.unaudited)
        audit.failure = f"none of {len(audit.unaudited)} dependencies audited"
        if missing:
            audit.failure += f", {missing} of them '{_NOT_ON_INDEX}'"
    return audit


def run_pip_audit(service: str, osv_url: str | None, timeout: float) -> Audit:
    """Audit the environment of this interpreter against one service."""
    cmd = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
    cmd += ["--skip-editable", "--vulnerability-service", service, "--timeout", "10"]
    if osv_url and service == "osv":
        cmd += ["--osv-url", osv_url]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Audit(service, failure=f"no answer within {timeout:.0f} s")
    return read_report(service, done.returncode, done.stdout, done.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unreachable-ok", action="store_true", help="exit 0 when unreachable")
    parser.add_argument("--service", choices=SERVICES, action="append", help="default: both")
    parser.add_argument("--osv-url", default=None, help="an OSV-compatible query URL")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + BUDGET_SECONDS
    failures = []
    for service in args.service or SERVICES:
        left = deadline - time.monotonic()
        if left <= 1:
            failures.append(f"{service}: not tried, time is up")
            continue
        audit = run_pip_audit(service, args.osv_url, left)
        if audit.failure:
            failures.append(f"{service}: {audit.failure}")
            continue
        for finding in audit.findings:
            print(f"vulnerable: {finding}")
        for reason in audit.unaudited:
            print(f"not audited: {reason}")
        if audit.findings:
            print(
                f"{len(audit.findings)} known vulnerabilities ({service}): raise the lower "
                "bounds in pyproject.toml to a fixed release"
            )
            return EXIT_FOUND
        print(f"no known vulnerabilities in {audit.audited} dependencies ({service})")
        return 0
    print("vulnerability service unreachable: not audited (" + "; ".join(failures) + ")")
    return 0 if args.unreachable_ok else EXIT_UNREACHABLE


if __name__ == "__main__":
    sys.exit(main())
