"""The cartwise SDK for custom storefronts: recommendations within a time budget, with a cache,
retries, a circuit breaker and curated defaults when anything fails (the developer's own list,
or the shop's, fetched from the server in the background), and batched event tracking.

`pip install cartwise` is enough: this package needs httpx, tenacity, cachetools and pydantic,
never the server's stack. See docs/sdk.md.
"""

from __future__ import annotations

from cartwise.schemas import CartItem as CartItem
from cartwise.schemas import RecommendationItem as RecommendationItem
from cartwise.schemas import RecommendationResponse as RecommendationResponse
from cartwise.schemas import RequestContext as RequestContext
from cartwise.sdk._async import AsyncCartwiseClient as AsyncCartwiseClient
from cartwise.sdk._config import BreakerPolicy as BreakerPolicy
from cartwise.sdk._config import CachePolicy as CachePolicy
from cartwise.sdk._config import RetryPolicy as RetryPolicy
from cartwise.sdk._config import ServerDefaultsPolicy as ServerDefaultsPolicy
from cartwise.sdk._config import TrackPolicy as TrackPolicy
from cartwise.sdk._sync import CartwiseClient as CartwiseClient
from cartwise.sdk.errors import BudgetExceeded as BudgetExceeded
from cartwise.sdk.errors import CircuitOpen as CircuitOpen
from cartwise.sdk.errors import ClientError as ClientError
from cartwise.sdk.errors import ConnectionFailed as ConnectionFailed
from cartwise.sdk.errors import InvalidResponse as InvalidResponse
from cartwise.sdk.errors import SdkError as SdkError
from cartwise.sdk.errors import ServerError as ServerError
from cartwise.sdk.models import BreakerState as BreakerState
from cartwise.sdk.models import CallInfo as CallInfo
from cartwise.sdk.models import TrackedEvent as TrackedEvent
from cartwise.sdk.models import TrackStats as TrackStats

__all__ = [
    "AsyncCartwiseClient",
    "BreakerPolicy",
    "BreakerState",
    "BudgetExceeded",
    "CachePolicy",
    "CallInfo",
    "CartItem",
    "CartwiseClient",
    "CircuitOpen",
    "ClientError",
    "ConnectionFailed",
    "InvalidResponse",
    "RecommendationItem",
    "RecommendationResponse",
    "RequestContext",
    "RetryPolicy",
    "SdkError",
    "ServerDefaultsPolicy",
    "ServerError",
    "TrackPolicy",
    "TrackStats",
    "TrackedEvent",
]
