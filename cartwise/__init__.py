"""cartwise: a checkout personalization engine for Shopify and Magento 2.

The bare package is light (the SDK's dependencies only); `create_app` needs `cartwise[server]`
and is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cartwise.errors import CartwiseError as CartwiseError

if TYPE_CHECKING:
    from cartwise.api import create_app as create_app
    from cartwise.settings import Settings as Settings

__version__ = "0.1.0"

__all__ = ["CartwiseError", "Settings", "__version__", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from cartwise.api import create_app

        return create_app
    if name == "Settings":
        from cartwise.settings import Settings

        return Settings
    raise AttributeError(f"module 'cartwise' has no attribute {name!r}")
