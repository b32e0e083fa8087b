"""`POST /v1/events` throughput on one gunicorn worker (embedded SQLite): storefront batches of
distinct events posted by wrk on loopback, against the bare Flask JSON endpoint in the same run.

    python benchmarks/events.py [--batch 20] [--seconds 10]

Every request carries `--batch` impressions/clicks with fresh event ids (generated in wrk's
Lua, so nothing is a duplicate), authenticated with an API key like a custom storefront. The
shop's event limit is raised for the run (`CARTWISE_EVENTS_PER_MINUTE`): what is measured is
the intake, not the limiter refusing. Needs `apt-get install wrk` and `pip install -e ".[server]"`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from http_service import BARE_APP, SHOP, cartwise_cmd, running, seed, serve_env
from local_servers import free_port

from cartwise import storage


def wrk(url: str, script: Path, seconds: int) -> dict[str, float]:
    cmd = ["wrk", "-t1", "-c4", f"-d{seconds}s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p99 = re.search(r"p99_us (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else float("nan"),
        "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "p99_ms": int(p99.group(1)) / 1000 if p99 else float("nan"),
    }


def events_script(work: Path, key: str, products: list[str], batch: int) -> Path:
    script = work / "events.lua"
    kinds = ["impression", "impression", "impression", "click"]
    script.write_text(
        "local n = 0\nmath.randomseed(os.time())\nlocal run = math.random(1, 1e9)\n"
        "request = function()\n  n = n + 1\n  local parts = {}\n"
        f"  for i = 1, {batch} do\n"
        f"    local kind = ({{{', '.join(repr(k).replace(chr(39), chr(34)) for k in kinds)}}})"
        "[(i % 4) + 1]\n"
        f"    local product = ({{{', '.join(chr(34) + p + chr(34) for p in products)}}})"
        f"[(n + i) % {len(products)} + 1]\n"
        '    parts[i] = string.format(\'{"kind":"%s","product_id":"%s","session_id":"s%d",'
        '"event_id":"%d-%d-%d","placement":"cart"}\', kind, product, n % 500, run, n, i)\n'
        "  end\n"
        '  local body = \'{"events":[\' .. table.concat(parts, ",") .. "]}"\n'
        '  return wrk.format("POST", nil, {["Content-Type"]="application/json", '
        f'["X-Cartwise-Key"]="{key}"}}, body)\nend\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("p99_us %d\\n", latency:percentile(99)))\nend\n'
    )
    return script


def bare_script(work: Path) -> Path:
    script = work / "bare.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.body = \'{"cart": []}\'\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("p99_us %d\\n", latency:percentile(99)))\nend\n'
    )
    return script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "cartwise.db"
        key, products = seed(db)
        (work / "bare.py").write_text(BARE_APP)
        bare_port = free_port()
        bare_cmd = [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{bare_port}"]
        with running([*bare_cmd, "--chdir", str(work), "bare:app"], bare_port):
            bare = wrk(f"http://127.0.0.1:{bare_port}/recommend", bare_script(work), args.seconds)
        port = free_port()
        env = serve_env(db, jobs=False) | {"CARTWISE_EVENTS_PER_MINUTE": "100000000"}
        with running(cartwise_cmd(port), port, env):
            got = wrk(
                f"http://127.0.0.1:{port}/v1/events",
                events_script(work, key, products, args.batch),
                args.seconds,
            )
        with storage.open(f"sqlite:///{db}") as store:
            stored = sum(store.tracking.counts(SHOP).values())
            daily = sum(d.count for d in store.tracking.daily(SHOP))
    events_per_s = got["rps"] * args.batch
    print(f"bare Flask endpoint: {bare['rps']:.0f} requests/s, p99 {bare['p99_ms']:.1f} ms")
    print(
        f"/v1/events, batches of {args.batch}: {got['rps']:.0f} requests/s = "
        f"{events_per_s:.0f} events/s, p99 {got['p99_ms']:.1f} ms, "
        f"non-2xx {got['non_2xx']:.0f}"
    )
    print(f"requests/s ratio to the bare endpoint: {got['rps'] / bare['rps']:.2f}")
    print(f"events stored: {stored}; counted per day: {daily}")
    return 0 if stored == daily and got["non_2xx"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
