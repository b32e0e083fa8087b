"""News between processes over Redis pub/sub: "shop X has a new model version".

A `cartwise worker` saves model versions; web workers hold the current one in memory and ask
storage for a newer one every few seconds. A notice makes them look at once, so a change shows
in the next answer rather than within the check interval. Notices are only a shortcut: a
missed one (Redis away, a worker restarting) costs at most that interval, never a wrong answer.
Layer 2: imports nothing from cartwise but layer 0; redis.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

__all__ = ["Notices"]

log = logging.getLogger(__name__)

_RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)


class Notices:
    """Publish and receive shop notices on the channel `{namespace}:models`."""

    def __init__(self, redis_url: str, namespace: str, *, timeout: float = 0.2) -> None:
        self._url = redis_url
        self._channel = f"{namespace}:models"
        self._publisher = Redis.from_url(
            redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()
        """Set once the listener is subscribed (tests, and readiness in logs)."""
        weakref.finalize(self, self._publisher.connection_pool.disconnect)

    def publish(self, shop: str) -> None:
        """Tell every listener that `shop` changed; an unreachable Redis is logged, not raised."""
        try:
            self._publisher.publish(self._channel, shop)
        except RedisError as exc:
            log.warning("could not publish the new model of %s: %s", shop, exc)

    def listen(self, on_notice: Callable[[str], None]) -> None:
        """Call `on_notice(shop)` for every notice, from a daemon thread, reconnecting after a
        Redis failure; returns at once."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, args=(on_notice,), name="cartwise-notices", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Let the listener end within a second, without waiting for it."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._publisher.close()

    def _run(self, on_notice: Callable[[str], None]) -> None:
        failures = 0
        while not self._stop.is_set():
            client = Redis.from_url(self._url, socket_connect_timeout=1, health_check_interval=30)
            try:
                with client.pubsub(ignore_subscribe_messages=True) as subscription:  # type: ignore[no-untyped-call]
                    subscription.subscribe(self._channel)
                    self.ready.set()
                    failures = 0
                    while not self._stop.is_set():
                        message = subscription.get_message(timeout=1.0)
                        if message is None or message.get("type") != "message":
                            continue
                        data = message["data"]
                        shop = data.decode() if isinstance(data, bytes) else str(data)
                        try:
                            on_notice(shop)
                        except Exception:
                            log.exception("a model notice for %s could not be applied", shop)
            except (RedisError, OSError) as exc:
                self.ready.clear()
                wait = _RECONNECT_SECONDS[min(failures, len(_RECONNECT_SECONDS) - 1)]
                failures += 1
                if failures == 1:
                    log.warning("model notices unavailable (%s); retrying", exc)
                self._stop.wait(wait)
            finally:
                client.close()
