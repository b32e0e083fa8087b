"""The shop rules repository: each shop's curated defaults and business rules.

Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from cartwise.domain import ShopRules
from cartwise.storage._base import Runner, insert_for, require_shop_id
from cartwise.storage.schema import shop_rules, shops

__all__ = ["RulesRepository"]


class RulesRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def get(self, domain: str) -> ShopRules:
        """The shop's rules; the empty rules when the merchant set none (or the shop is unknown)."""
        with self._runner.read(f"reading the rules of {domain!r}") as conn:
            doc = conn.execute(
                select(shop_rules.c.rules)
                .join(shops, shops.c.id == shop_rules.c.shop_id)
                .where(shops.c.domain == domain)
            ).scalar_one_or_none()
        return ShopRules() if doc is None else _from_doc(doc)

    def set(self, domain: str, rules: ShopRules) -> None:
        doc = _to_doc(rules)
        now = datetime.now(UTC)
        with self._runner.write(f"saving the rules of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = insert_for(conn, shop_rules).values(shop_id=shop_id, rules=doc, updated_at=now)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[shop_rules.c.shop_id],
                    set_={"rules": stmt.excluded.rules, "updated_at": now},
                )
            )


def _to_doc(rules: ShopRules) -> dict[str, Any]:
    return {
        "defaults": list(rules.defaults),
        "pinned": list(rules.pinned),
        "blocked": sorted(rules.blocked),
        "min_price": rules.min_price,
        "max_price": rules.max_price,
        "max_per_vendor": rules.max_per_vendor,
        "max_per_category": rules.max_per_category,
        "exploration_share": rules.exploration_share,
    }


def _from_doc(doc: dict[str, Any]) -> ShopRules:
    return ShopRules(
        defaults=tuple(doc.get("defaults", ())),
        pinned=tuple(doc.get("pinned", ())),
        blocked=frozenset(doc.get("blocked", ())),
        min_price=doc.get("min_price"),
        max_price=doc.get("max_price"),
        max_per_vendor=doc.get("max_per_vendor"),
        max_per_category=doc.get("max_per_category"),
        exploration_share=float(doc.get("exploration_share") or 0.0),
    )
