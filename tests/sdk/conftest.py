"""Fixtures for the SDK: a fake clock with its sleeps, respx routes for the server's contract,
and real sockets on 127.0.0.1 that accept and never answer, or trickle one byte a second.

Nothing here imports the server's stack: these tests run with the SDK alone.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import respx

from cartwise.schemas import RecommendationItem

BASE = "https://cartwise.test"
KEY = "ck_test_0123456789"
RECOMMEND = f"{BASE}/v1/recommendations"
EVENTS = f"{BASE}/v1/events"

DEFAULTS = [
    RecommendationItem(product_id="d1", title="Gift card", reason="Popular", score=0.0),
    RecommendationItem(product_id="d2", title="Tote bag", reason="Popular", score=0.0),
    RecommendationItem(product_id="d3", title="Mug", reason="Popular", score=0.0),
]


def answer(source: str = "model", *ids: str) -> dict[str, Any]:
    """A `RecommendationResponse` body as the server sends it."""
    products = ids or ("p2", "p3")
    return {
        "items": [
            {
                "product_id": pid,
                "variant_id": None,
                "title": f"Product {pid}",
                "price": 9.5,
                "image_url": None,
                "reason": "Often bought with Product p1",
                "score": 1.0 / (n + 1),
            }
            for n, pid in enumerate(products)
        ],
        "source": source,
        "model_version": 7,
        "request_id": "0" * 31 + "1",
    }


def error(code: str, message: str = "no") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class FakeClock:
    """A monotonic clock that moves only when told to, or when slept on."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx, strict: an unmatched request fails the test, and so does a route never called."""
    with respx.mock(base_url=BASE, assert_all_called=True, assert_all_mocked=True) as mocked:
        yield mocked


class SilentServer:
    """A real TCP server on 127.0.0.1: it accepts every connection, reads the request, then
    never answers (`trickle=False`) or sends a valid answer one byte a second."""

    def __init__(self, *, trickle: bool) -> None:
        self.trickle = trickle
        self.connections = 0
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._socks.append(conn)
                self.connections += 1
            if self.trickle:
                self._spawn(self._drip, conn)

    def _drip(self, conn: socket.socket) -> None:
        body = json.dumps(answer()).encode()
        reply = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        try:
            conn.settimeout(5)
            conn.recv(65536)
            for n in range(len(reply)):
                conn.sendall(reply[n : n + 1])
                if self._stop.wait(1.0):
                    return
        except OSError:
            return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            threads, socks = list(self._threads), list(self._socks)
        for thread in threads:
            thread.join(timeout=5)
        for sock in socks:
            sock.close()


@pytest.fixture(params=[pytest.param(False, id="hung"), pytest.param(True, id="trickle")])
def silent_server(request: pytest.FixtureRequest) -> Iterator[SilentServer]:
    server = SilentServer(trickle=request.param)
    yield server
    server.close()
