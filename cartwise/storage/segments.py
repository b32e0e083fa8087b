"""The segment popularity repository: what sells best per shopper segment (e.g. `country:DE`,
`device:mobile`, `referrer:instagram.com`), the cold-start answer for a shopper with no cart.

Weights use forward decay: an order at time t adds 2 ** ((t - EPOCH) / half_life), so recent
orders weigh more and nothing old is ever rewritten; a cancelled order subtracts what it added.
Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import select

from cartwise.storage._base import Runner, check_limit, insert_for, require_shop_id
from cartwise.storage.schema import segment_popularity, to_utc

__all__ = ["SEGMENT_EPOCH", "SEGMENT_HALF_LIFE_DAYS", "SegmentRepository", "decayed_weight"]

SEGMENT_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
SEGMENT_HALF_LIFE_DAYS = 30.0
_MAX_EXPONENT = 1000.0  # 2 ** 1000 is far below the float limit: good for ~80 years


def decayed_weight(at: datetime, quantity: float = 1.0) -> float:
    days = (to_utc(at) - SEGMENT_EPOCH).total_seconds() / 86_400
    exponent = max(-_MAX_EXPONENT, min(_MAX_EXPONENT, days / SEGMENT_HALF_LIFE_DAYS))
    return quantity * math.pow(2.0, exponent)


class SegmentRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def add(
        self,
        domain: str,
        segments: Iterable[str],
        product_ids: Iterable[str],
        at: datetime,
        *,
        sign: float = 1.0,
    ) -> None:
        """Count one order of `product_ids` in every segment (sign -1 takes it back out)."""
        keys = [s for s in dict.fromkeys(segments) if s]
        products = list(dict.fromkeys(product_ids))
        if not keys or not products:
            return
        weight = sign * decayed_weight(at)
        with self._runner.write(f"counting segments of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = insert_for(conn, segment_popularity)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[
                        segment_popularity.c.shop_id,
                        segment_popularity.c.segment,
                        segment_popularity.c.product_id,
                    ],
                    set_={"weight": segment_popularity.c.weight + stmt.excluded.weight},
                ),
                # Sorted, so concurrent writers lock rows in the same order on PostgreSQL:
                # two orders of the same products listed differently would deadlock.
                [
                    {"shop_id": shop_id, "segment": seg, "product_id": pid, "weight": weight}
                    for seg in sorted(keys)
                    for pid in sorted(products)
                ],
            )

    def add_many(
        self, domain: str, orders: Iterable[tuple[Iterable[str], Iterable[str], datetime]]
    ) -> None:
        """`add` for many orders (segments, product ids, when) in one statement: weights of the
        same segment and product are summed first (a backfill page)."""
        totals: dict[tuple[str, str], float] = {}
        for segments, product_ids, at in orders:
            weight = decayed_weight(at)
            for seg in dict.fromkeys(s for s in segments if s):
                for pid in dict.fromkeys(product_ids):
                    totals[(seg, pid)] = totals.get((seg, pid), 0.0) + weight
        if not totals:
            return
        with self._runner.write(f"counting segments of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            stmt = insert_for(conn, segment_popularity)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[
                        segment_popularity.c.shop_id,
                        segment_popularity.c.segment,
                        segment_popularity.c.product_id,
                    ],
                    set_={"weight": segment_popularity.c.weight + stmt.excluded.weight},
                ),
                [
                    {"shop_id": shop_id, "segment": seg, "product_id": pid, "weight": w}
                    for (seg, pid), w in sorted(totals.items())
                ],
            )

    def top(self, domain: str, segment: str, *, limit: int = 20) -> builtins.list[str]:
        """The segment's products, most popular first (empty for an unknown segment)."""
        check_limit(limit)
        with self._runner.read(f"reading segment {segment!r} of {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            rows = conn.execute(
                select(segment_popularity.c.product_id)
                .where(
                    segment_popularity.c.shop_id == shop_id,
                    segment_popularity.c.segment == segment,
                    # cancellations subtract what orders added: what is left of the float
                    # rounding is far below one order's weight today
                    segment_popularity.c.weight > 1e-6 * decayed_weight(datetime.now(UTC)),
                )
                .order_by(segment_popularity.c.weight.desc(), segment_popularity.c.product_id)
                .limit(limit)
            ).all()
        return [row.product_id for row in rows]
