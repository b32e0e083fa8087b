"""What the SDK costs on top of the network, and how long a call takes when the server hangs.

    python benchmarks/sdk.py [--n 3000] [--hung 60] [--json OUT]

- **cache hit**: the whole `recommend` call answered from the session cache (µs per call).
- **miss overhead**: `recommend` with the cache off against a bare `httpx` POST of the same
  body to the same local server, both over keep-alive, timed in the same run in alternating
  blocks; the overhead is the difference of the medians (and of the p99s). The server is a
  minimal asyncio HTTP/1.1 server in a subprocess that answers every POST with a fixed
  8-item `RecommendationResponse`, so the figure is the SDK's, not cartwise's.
- **hung server**: a socket server on 127.0.0.1 that accepts and never answers; the breaker is
  off, so every call waits for its budget (300 ms). Wall time per call, p50/p99/max.
- **open breaker**: the whole call once the breaker has opened (nothing listens on the port;
  5 refused connections open it), answered with the defaults and no request (µs per call).

Sync and async clients are measured alike. Prints JSON. Needs only `pip install cartwise`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

import cartwise
from cartwise.sdk import AsyncCartwiseClient, CartwiseClient

BUDGET = 0.3
CART = ["22423", "22697"]
KEY = "ck_bench_0123456789"
BLOCK = 100

ANSWER = json.dumps(
    {
        "items": [
            {
                "product_id": f"P{n:05d}",
                "variant_id": None,
                "title": f"Product {n}",
                "price": 9.95,
                "image_url": None,
                "reason": "Often bought with REGENCY CAKESTAND 3 TIER",
                "score": 1.0 / (n + 1),
            }
            for n in range(8)
        ],
        "source": "model",
        "model_version": 1,
        "request_id": "0" * 32,
    }
).encode()


async def _serve() -> None:
    """The fixed-answer server (run in a subprocess): prints its port, answers until killed."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(ANSWER)}\r\n\r\n".encode()
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                headers = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in headers.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(head + ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 1),
        "max": round(ordered[-1], 1),
    }


def _timed(call: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter_ns()
        call()
        out.append((time.perf_counter_ns() - started) / 1_000)
    return out


async def _atimed(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter_ns()
        await call()
        out.append((time.perf_counter_ns() - started) / 1_000)
    return out


def _overhead(raw: list[float], sdk: list[float]) -> dict[str, Any]:
    r, s = _quantiles(raw), _quantiles(sdk)
    return {
        "raw_us": r,
        "sdk_us": s,
        "overhead_p50_us": round(s["p50"] - r["p50"], 1),
        "overhead_p99_us": round(s["p99"] - r["p99"], 1),
    }


def sync_figures(url: str, n: int) -> dict[str, Any]:
    body = json.dumps({"cart": [{"product_id": p} for p in CART], "session_id": "s", "k": 8})
    headers = {"Content-Type": "application/json", "X-Cartwise-Key": KEY}
    with (
        httpx.Client() as raw,
        CartwiseClient(url, KEY, budget=BUDGET, cache=None) as miss,
        CartwiseClient(url, KEY, budget=BUDGET) as hit,
    ):

        def bare() -> None:
            raw.post(f"{url}/v1/recommendations", content=body, headers=headers).json()

        def sdk() -> None:
            assert miss.recommend(CART, session_id="s").source == "model"

        def cached() -> None:
            assert hit.recommend(CART, session_id="s").source == "cache"

        hit.recommend(CART, session_id="s")
        _timed(bare, 200), _timed(sdk, 200), _timed(cached, 200)
        raw_t: list[float] = []
        sdk_t: list[float] = []
        for _ in range(n // BLOCK):
            raw_t += _timed(bare, BLOCK)
            sdk_t += _timed(sdk, BLOCK)
        return {"cache_hit_us": _quantiles(_timed(cached, n)), "miss": _overhead(raw_t, sdk_t)}


async def async_figures(url: str, n: int) -> dict[str, Any]:
    body = json.dumps({"cart": [{"product_id": p} for p in CART], "session_id": "s", "k": 8})
    headers = {"Content-Type": "application/json", "X-Cartwise-Key": KEY}
    async with (
        httpx.AsyncClient() as raw,
        AsyncCartwiseClient(url, KEY, budget=BUDGET, cache=None) as miss,
        AsyncCartwiseClient(url, KEY, budget=BUDGET) as hit,
    ):

        async def bare() -> None:
            (await raw.post(f"{url}/v1/recommendations", content=body, headers=headers)).json()

        async def sdk() -> None:
            assert (await miss.recommend(CART, session_id="s")).source == "model"

        async def cached() -> None:
            assert (await hit.recommend(CART, session_id="s")).source == "cache"

        await hit.recommend(CART, session_id="s")
        await _atimed(bare, 200)
        await _atimed(sdk, 200)
        await _atimed(cached, 200)
        raw_t: list[float] = []
        sdk_t: list[float] = []
        for _ in range(n // BLOCK):
            raw_t += await _atimed(bare, BLOCK)
            sdk_t += await _atimed(sdk, BLOCK)
        hits = await _atimed(cached, n)
        return {"cache_hit_us": _quantiles(hits), "miss": _overhead(raw_t, sdk_t)}


class _Hung:
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def hung_figures(n: int) -> dict[str, Any]:
    server = _Hung()
    try:
        sync_ms: list[float] = []
        with CartwiseClient(server.url, KEY, budget=BUDGET, breaker=None, cache=None) as c:
            for i in range(n):
                started = time.perf_counter()
                assert c.recommend(CART, session_id=f"s{i}").source == "fallback"
                sync_ms.append((time.perf_counter() - started) * 1000)

        async def run() -> list[float]:
            out = []
            async with AsyncCartwiseClient(
                server.url, KEY, budget=BUDGET, breaker=None, cache=None
            ) as c:
                for i in range(n):
                    started = time.perf_counter()
                    assert (await c.recommend(CART, session_id=f"s{i}")).source == "fallback"
                    out.append((time.perf_counter() - started) * 1000)
            return out

        async_ms = asyncio.run(run())
    finally:
        server.close()
    return {
        "budget_ms": BUDGET * 1000,
        "sync_ms": _quantiles(sync_ms),
        "async_ms": _quantiles(async_ms),
    }


def open_breaker_figures(n: int) -> dict[str, Any]:
    probe = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    probe.close()  # nothing listens there now: every connect is refused
    defaults = ["85123A", "47566", "84879", "22423"]
    with CartwiseClient(url, KEY, budget=BUDGET, defaults=defaults, cache=None) as c:

        def call() -> None:
            assert c.recommend(CART, session_id="s").source == "fallback"

        _timed(call, 5)
        assert c.breaker_state == "open"
        sync_us = _timed(call, n)

    async def run() -> list[float]:
        async with AsyncCartwiseClient(url, KEY, budget=BUDGET, defaults=defaults, cache=None) as c:

            async def call() -> None:
                assert (await c.recommend(CART, session_id="s")).source == "fallback"

            await _atimed(call, 5)
            assert c.breaker_state == "open"
            return await _atimed(call, n)

    return {"sync_us": _quantiles(sync_us), "async_us": _quantiles(asyncio.run(run()))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="timed calls per figure")
    parser.add_argument("--hung", type=int, default=60, help="calls against the hung server")
    parser.add_argument("--json", metavar="OUT", help="also write the figures to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve())
        return 0
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        gc.collect()
        gc.freeze()
        figures = {
            "cartwise": cartwise.__version__,
            "python": platform.python_version(),
            "httpx": httpx.__version__,
            "machine": f"{platform.machine()}, {platform.system()}",
            "n": args.n,
            "sync": sync_figures(url, args.n),
            "async": asyncio.run(async_figures(url, args.n)),
            "hung": hung_figures(args.hung),
            "open_breaker": open_breaker_figures(args.n),
            "targets": {
                "cache_hit_us": 50,
                "miss_overhead_us": 1000,
                "hung_p99_ms": 320,
                "open_breaker_p99_us": 5000,
            },
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
