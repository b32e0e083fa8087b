"""Fault runs at full size, on one machine, printing figures (recorded in docs/reliability.md).

    python benchmarks/reliability.py [--deliveries 5000] [--outage 60] [--only NAME ...]
                                     [--jobs web|worker] [--json OUT]

- `kill9_sqlite`, `kill9_postgres`: `cartwise serve` with 2 gunicorn workers, `--deliveries`
  distinct signed orders/create deliveries from 4 client threads that retry anything not
  acknowledged with 200, while a random worker (or job runner) is SIGKILLed every 0.5-1.5 s;
  then the queue drains and storage and the model are audited against what was sent, and
  audited again after one rebuild of the model from storage.
- `redis_outage`: Redis behind the fault proxy under a steady recommendation load: a baseline,
  then `--outage` seconds blackholed, then `--outage` seconds refused (a stopped server);
  every answer checked against the response schema, p99 per phase, and how long after Redis
  returns it holds this run's cached answers again.
- `postgres_faults`: PostgreSQL behind the fault proxy under webhooks and recommendations: 10 s
  refused (a restart), 10 s blackholed, 20 s with 300 ms more per round trip; what the webhook
  intake and the storefront answered in each phase, and the audit once the queue drained.

`--jobs worker` runs the job queue in separate `cartwise worker` processes (killed and
restarted too) instead of threads of the web workers. Needs PostgreSQL on 127.0.0.1:5432 and
Redis on 127.0.0.1:6379 (or CARTWISE_TEST_POSTGRES_URL / CARTWISE_TEST_REDIS_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from sqlalchemy import make_url  # noqa: E402

from cartwise import storage  # noqa: E402
from tests.reliability.faultproxy import FaultProxy  # noqa: E402
from tests.reliability.harness import (  # noqa: E402
    POSTGRES_ADMIN_URL,
    SHOP,
    Answer,
    JobRunners,
    RecommendationLoad,
    Sender,
    SendReport,
    Service,
    audit,
    kill_run,
    make_deliveries,
    postgres_database,
    seed_shop,
    service_env,
    wait_drained,
)

REDIS_URL = os.environ.get("CARTWISE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _ms(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def answers_figures(answers: Sequence[Answer]) -> dict[str, object]:
    seconds = [a.seconds for a in answers]
    return {
        "answers": len(answers),
        "ok_2xx_valid": sum(a.status == 200 and a.valid for a in answers),
        "statuses": dict(Counter(str(a.status) for a in answers)),
        "sources": dict(Counter(str(a.source) for a in answers)),
        "p50_ms": _ms(seconds, 0.5),
        "p99_ms": _ms(seconds, 0.99),
        "max_ms": _ms(seconds, 1.0),
    }


def sender_figures(report: SendReport) -> dict[str, object]:
    return {
        "acknowledged": len(report.acked),
        "unacknowledged": len(report.unacked),
        "attempts": report.attempts,
        "outcomes": dict(report.outcomes),
        "ack_p50_ms": _ms(report.ack_seconds, 0.5),
        "ack_p99_ms": _ms(report.ack_seconds, 0.99),
        "seconds": round(report.seconds, 1),
    }


def kill9(profile: str, work: Path, deliveries: int, jobs: JobRunners) -> dict[str, object]:
    logs = work / f"kill9-{profile}"
    pause = (0.5, 1.5)
    if profile == "sqlite":
        run = kill_run(
            f"sqlite:///{work / 'kill9.db'}", logs, deliveries=deliveries, jobs=jobs, pause=pause
        )
    else:
        with postgres_database(POSTGRES_ADMIN_URL) as (url, _):
            run = kill_run(url, logs, deliveries=deliveries, jobs=jobs, pause=pause)
    return {
        "jobs": jobs.kind,
        "kills": len(run.kills),
        "kills_while_sending": run.kills_while_sending,
        "kills_by_role": dict(Counter(k.role for k in run.kills)),
        "sender": sender_figures(run.report),
        "drain_seconds": round(run.drain_seconds, 1),
        "sqlite_integrity_check": run.integrity,
        "at_drain": run.at_drain.summary(),
        "after_rebuild": run.after_rebuild.summary(),
    }


def redis_outage(work: Path, outage: float) -> dict[str, object]:
    server = redis.Redis.from_url(REDIS_URL)
    parts = server.connection_pool.connection_kwargs
    url = f"sqlite:///{work / 'redis.db'}"
    seeded = seed_shop(url)
    with storage.open(url) as store:
        stamp = store.models.latest_stamp(SHOP)
    assert stamp is not None
    prefix = f"cartwise:answer:{SHOP}:{stamp[0]}-{int(stamp[1].timestamp() * 1000)}:"

    def cached() -> list[bytes]:
        return list(server.scan_iter(match=prefix + "*", count=1000))

    results: dict[str, object] = {}
    with FaultProxy(parts.get("host", "127.0.0.1"), int(parts.get("port", 6379))) as proxy:
        env = service_env(url, redis_url=f"redis://{proxy.address}/0")
        with Service(env, work / "redis-logs") as service:
            load = RecommendationLoad(service.port, seeded.api_key, pause=0.005).start()
            time.sleep(3)
            load.mark("baseline")
            time.sleep(20)
            connections = proxy.open_connections
            for fault in ("blackhole", "down"):
                load.mark(fault)
                getattr(proxy, fault)()
                time.sleep(outage)
                server.delete(*cached() or [b"-"])
                load.mark(f"after_{fault}")
                proxy.pass_through()
                back = time.monotonic()
                while not cached() and time.monotonic() - back < 60:
                    time.sleep(0.05)
                results[f"{fault}_redis_used_again_after_s"] = round(time.monotonic() - back, 2)
                time.sleep(20)
            load.mark("end")
            load.stop()
            results["proxy_connections_before_after"] = [connections, proxy.open_connections]
            results["proxy_connections_accepted"] = proxy.accepted
    marks = ["baseline", "blackhole", "after_blackhole", "down", "after_down", "end"]
    for start, end in pairwise(marks):
        results[start] = answers_figures(load.between(start, end))
    baseline_p99 = _ms([a.seconds for a in load.between("baseline", "blackhole")], 0.99)
    for fault in ("blackhole", "down"):
        p99 = _ms([a.seconds for a in load.between(fault, f"after_{fault}")], 0.99)
        results[f"{fault}_p99_over_baseline"] = round(p99 / baseline_p99, 2)
    results["non_200_bodies"] = dict(load.errors.most_common(5))
    return results


def postgres_faults(work: Path, deliveries: int) -> dict[str, object]:
    server = make_url(POSTGRES_ADMIN_URL)
    results: dict[str, object] = {}
    with (
        FaultProxy(server.host or "127.0.0.1", server.port or 5432) as proxy,
        postgres_database(POSTGRES_ADMIN_URL, host="127.0.0.1", port=proxy.port) as (url, direct),
    ):
        seeded = seed_shop(direct)
        sent = make_deliveries(deliveries, seeded.at)
        with Service(service_env(url), work / "postgres-logs") as service:
            load = RecommendationLoad(service.port, seeded.api_key, pause=0.005).start()
            sender = Sender(service.port, sent, threads=2, give_up=300)
            sending = threading.Thread(target=sender.run)
            sending.start()
            phases = [
                ("baseline", 5.0, proxy.pass_through),
                ("refused", 10.0, proxy.down),
                ("after_refused", 10.0, proxy.pass_through),
                ("blackholed", 10.0, proxy.blackhole),
                ("after_blackholed", 10.0, proxy.pass_through),
                ("slow_300ms", 20.0, lambda: proxy.latency(300)),
                ("end", 5.0, proxy.pass_through),
            ]
            outcomes: dict[str, Counter[str]] = {}
            for name, seconds, switch in phases:
                before = Counter(sender.report.outcomes)
                load.mark(name)
                switch()
                time.sleep(seconds)
                outcomes[name] = Counter(sender.report.outcomes) - before
            load.mark("stop")
            sending.join()
            load.stop()
            with storage.open(direct) as store:
                results["drain_seconds"] = round(wait_drained(store, timeout=300), 1)
                results["audit"] = audit(store, seeded, sent, sender.report).summary()
            time.sleep(1)
            results["proxy_connections_at_rest"] = proxy.open_connections
            results["server_alive"] = service.arbiter_alive
    names = [name for name, _, _ in phases] + ["stop"]
    for start, end in pairwise(names):
        results[start] = {
            "webhooks": dict(outcomes[start]),
            "recommendations": answers_figures(load.between(start, end)),
        }
    results["sender"] = sender_figures(sender.report)
    results["recommendation_non_200_bodies"] = dict(load.errors.most_common(5))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--jobs", choices=["web", "worker"], default="web")
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["kill9_sqlite", "kill9_postgres", "redis_outage", "postgres_faults"],
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    wanted = args.only or ["kill9_sqlite", "kill9_postgres", "redis_outage", "postgres_faults"]
    jobs = JobRunners(args.jobs)
    work = Path(tempfile.mkdtemp(prefix="cartwise-reliability-"))
    results: dict[str, object] = {"machine": f"{os.cpu_count()} cores", "jobs": args.jobs}
    try:
        for name in wanted:
            started = time.monotonic()
            if name == "kill9_sqlite":
                results[name] = kill9("sqlite", work, args.deliveries, jobs)
            elif name == "kill9_postgres":
                results[name] = kill9("postgres", work, args.deliveries, jobs)
            elif name == "redis_outage":
                results[name] = redis_outage(work, args.outage)
            else:
                results[name] = postgres_faults(work, args.deliveries)
            print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        text = json.dumps(results, indent=1)
        print(text)
        if args.json:
            args.json.write_text(text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
