"""Talks outward to where a shop's data lives: platform admin APIs and CSV exports.

Each submodule stands alone (`cartwise.connector.csv_files`, `.shopify`, `.magento`); this package
imports none of them, so reading CSV never pulls in an HTTP client. Layer 2: imports layer 0 only.
"""

__all__: list[str] = []
