"""When to try a failing Redis again: the rule the cache, the rate limits and the job tickets
share. After a failure the caller stands aside for `cooldown`; each further failure doubles the
pause, up to `max_cooldown`, so a Redis that does not answer at all (a blackhole) costs one
socket timeout per worker every `max_cooldown` seconds, not every second; the first answer
brings the pause back to `cooldown`. Layer 2: no cartwise imports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Pause"]


class Pause:
    """The stand-aside state of one client. Thread-safe."""

    def __init__(
        self,
        cooldown: float = 1.0,
        max_cooldown: float = 16.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cooldown = cooldown
        self._max = max(cooldown, max_cooldown)
        self._clock = clock
        self._pause = cooldown
        self._until = 0.0
        self._down = False
        self._lock = threading.Lock()

    @property
    def waiting(self) -> bool:
        """True while standing aside: do not try now."""
        return self._clock() < self._until

    def failed(self) -> bool:
        """Count a failed try; True when it is the first of an outage (the one to log)."""
        with self._lock:
            if self._down:
                self._pause = min(self._max, self._pause * 2)
            self._until = self._clock() + self._pause
            first, self._down = not self._down, True
        return first

    def answered(self) -> bool:
        """Count a try that worked; True when it ends an outage (the one to log)."""
        if not self._down:
            return False
        with self._lock:
            ended, self._down = self._down, False
            self._pause = self._cooldown
        return ended
