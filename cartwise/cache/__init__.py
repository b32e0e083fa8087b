"""The cache layer: answers kept for a short while so that a shopper's repeated identical
request (a re-render, a retry) costs a dictionary lookup. In process by default (cachetools,
locked); keys carry the model version, so a new model is never hidden behind an old answer.
Layer 2: imports nothing from cartwise but layer 0.
"""

from cartwise.cache.memory import MemoryCache as MemoryCache

__all__ = ["MemoryCache"]
