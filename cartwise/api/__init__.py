"""The HTTP delivery layer (Flask): the app factory and its blueprints.

Layer 5: may import everything below; nothing in cartwise imports this package but `cli`.
"""

from cartwise.api.app import create_app as create_app

__all__ = ["create_app"]
