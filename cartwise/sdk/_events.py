"""The tracked-event queue both clients share: bounded, dropping the oldest event when full and
counting what it dropped; batches are taken from the front and, when a send fails for a reason
that may pass, put back at the front. Thread-safe; no IO. Layer 0 only.
"""

from __future__ import annotations

import threading
from collections import deque

from cartwise.sdk._config import TrackPolicy
from cartwise.sdk.models import TrackedEvent, TrackStats

__all__ = ["EventQueue"]


class EventQueue:
    def __init__(self, policy: TrackPolicy) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self._events: deque[TrackedEvent] = deque()
        self._sent = 0
        self._dropped = 0
        self._rejected = 0

    def append(self, event: TrackedEvent) -> bool:
        """Queue `event`; True when a batch is ready to go."""
        with self._lock:
            if len(self._events) >= self._policy.queue_size:
                self._events.popleft()
                self._dropped += 1
            self._events.append(event)
            return len(self._events) >= self._policy.batch_size

    def take(self) -> list[TrackedEvent]:
        """Up to one batch from the front (the oldest events)."""
        with self._lock:
            count = min(self._policy.batch_size, len(self._events))
            return [self._events.popleft() for _ in range(count)]

    def put_back(self, batch: list[TrackedEvent]) -> None:
        """Return a batch that could not be sent to the front; what no longer fits (newer
        events came in meanwhile) is dropped, oldest first."""
        with self._lock:
            room = self._policy.queue_size - len(self._events)
            keep = batch[len(batch) - room :] if room < len(batch) else batch
            self._dropped += len(batch) - len(keep)
            self._events.extendleft(reversed(keep))

    def sent(self, batch: list[TrackedEvent]) -> None:
        with self._lock:
            self._sent += len(batch)

    def rejected(self, batch: list[TrackedEvent]) -> None:
        with self._lock:
            self._rejected += len(batch)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def stats(self) -> TrackStats:
        with self._lock:
            return TrackStats(len(self._events), self._sent, self._dropped, self._rejected)
