"""The Redis cache against the real server on localhost: values with their TTL, an outage
(through a TCP relay we can cut) that costs nothing but misses, recovery, and the answer cache
shared by two apps and invalidated by a new model version."""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cartwise import cache
from cartwise.cache import MemoryCache
from cartwise.cache.redis import RedisCache
from cartwise.errors import ConfigurationError


def text_cache(url: str, **kw: Any) -> RedisCache[str]:
    return RedisCache(
        url,
        ttl=kw.pop("ttl", 5.0),
        encode=str.encode,
        decode=bytes.decode,
        namespace=f"test-{uuid.uuid4().hex}",
        **kw,
    )


class Relay:
    """A TCP relay in front of Redis that can be cut and restored on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open = True
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        self.open = False
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.conns.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.server.close()


@pytest.fixture
def relay(redis_url: str) -> Iterator[Relay]:
    from redis.connection import parse_url

    parts = parse_url(redis_url)
    r = Relay((parts.get("host", "127.0.0.1"), int(parts.get("port", 6379))))
    yield r
    r.close()


def test_open_picks_the_backend_and_refuses_other_urls(redis_url: str) -> None:
    args: dict[str, Callable[..., Any]] = {"encode": str.encode, "decode": bytes.decode}
    assert isinstance(cache.open(None, ttl=1, **args), MemoryCache)
    assert isinstance(cache.open("memory://", ttl=1, **args), MemoryCache)
    assert isinstance(cache.open(redis_url, ttl=1, **args), RedisCache)
    with pytest.raises(ConfigurationError, match="unsupported cache URL 'host:1'"):
        cache.open("http://user:pw@host:1", ttl=1, **args)


def test_a_value_is_kept_for_its_ttl_then_gone(redis_url: str) -> None:
    c = text_cache(redis_url, ttl=0.3)
    assert c.get("k") is None
    c.set("k", "v")
    assert c.get("k") == "v"
    time.sleep(0.45)
    assert c.get("k") is None
    assert (c.hits, c.misses, c.errors) == (1, 2, 0)


def test_namespaces_do_not_see_each_other(redis_url: str) -> None:
    a, b = text_cache(redis_url), text_cache(redis_url)
    a.set("k", "from a")
    assert b.get("k") is None
    a.clear()
    assert a.get("k") is None


def test_an_unreadable_entry_is_a_miss(redis_url: str) -> None:
    import redis

    c = text_cache(redis_url)
    redis.Redis.from_url(redis_url).set(c._prefix + "k", b"\xff\xfe")
    assert c.get("k") is None
    assert c.errors == 0


def test_no_server_is_a_miss_and_the_cache_stands_aside(redis_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # nothing listens once closed
    now = [100.0]
    c = text_cache(f"redis://127.0.0.1:{dead}/0", cooldown=5.0, clock=lambda: now[0])
    c.set("k", "v")
    assert c.get("k") is None
    assert c.errors == 1  # the get did not try again within the cooldown
    now[0] += 6
    assert c.get("k") is None
    assert c.errors == 2


def test_an_outage_costs_misses_only_and_the_cache_comes_back(
    relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cartwise.cache.redis")
    c = text_cache(f"redis://127.0.0.1:{relay.port}/0", cooldown=0.2)
    c.set("k", "v")
    assert c.get("k") == "v"
    relay.cut()
    started = time.monotonic()
    results = [c.get("k") for _ in range(200)]
    assert results == [None] * 200
    assert time.monotonic() - started < 1.0  # standing aside, not a timeout per call
    assert c.errors <= 2
    relay.restore()
    deadline = time.monotonic() + 2.0
    while c.get("k") != "v":  # a pooled connection that died with the outage fails once
        assert time.monotonic() < deadline, "the cache did not come back"
        time.sleep(0.05)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unavailable" in m for m in messages) == 1
    assert any("is back" in m for m in messages)


def test_the_pause_doubles_while_redis_stays_away_and_resets_once_it_answers(
    relay: Relay,
) -> None:
    now = [100.0]
    c = text_cache(
        f"redis://127.0.0.1:{relay.port}/0", cooldown=1.0, max_cooldown=4.0, clock=lambda: now[0]
    )
    c.set("k", "v")
    relay.cut()
    tried_at = []
    for _ in range(40):  # 10 s in steps of 0.25 s, one get each
        before = c.errors
        assert c.get("k") is None
        if c.errors > before:
            tried_at.append(now[0])
        now[0] += 0.25
    # pauses of 1, 2, 4 and then 4 s (the cap): a dead Redis is tried less and less often
    assert [round(b - a, 2) for a, b in itertools.pairwise(tried_at)] == [1.0, 2.0, 4.0]
    relay.restore()
    now[0] += 4.0
    while c.get("k") != "v":  # a pooled connection that died with the outage fails once
        now[0] += 4.0
    relay.cut()
    assert c.get("k") is None
    now[0] += 1.0  # back to the first, short pause
    errors = c.errors
    assert c.get("k") is None
    assert c.errors == errors + 1
