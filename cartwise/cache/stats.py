"""What a cache counts about itself, for monitoring: read at scrape time, never on the hot
path. Layer 2: imports nothing."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CacheStats"]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counts since the cache was made. `hits` + `misses` is every `get`; `errors` counts calls
    that could not reach the backend (each such `get` is a miss too)."""

    hits: int = 0
    misses: int = 0
    errors: int = 0
