"""The webhook edge: a delivery is verified on its raw bytes, stored once and queued for a job,
all before the 200 goes back. Pure of Flask: it takes the method, headers and body.
Layer 3: imports layers 0-2.
"""

from cartwise.webhooks.ingest import IngestResult as IngestResult
from cartwise.webhooks.ingest import ingest_shopify as ingest_shopify
from cartwise.webhooks.magento import ingest_magento as ingest_magento
from cartwise.webhooks.topics import COMPLIANCE_TOPICS as COMPLIANCE_TOPICS
from cartwise.webhooks.topics import SHOPIFY_TOPICS as SHOPIFY_TOPICS

__all__ = [
    "COMPLIANCE_TOPICS",
    "SHOPIFY_TOPICS",
    "IngestResult",
    "ingest_magento",
    "ingest_shopify",
]
