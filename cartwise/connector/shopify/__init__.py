"""Shopify: payload parsing, request verification (webhooks, session tokens, app proxy), the
install flow and offline access tokens. Layer 2: receives secrets and clients as arguments."""
