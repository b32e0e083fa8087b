"""The consent log: each customer's choices about personalisation, newest last, and what
withdrawing consent does to the rows that name the customer.

The latest entry is the customer's current choice; a customer without one gets the regime's
default (personalised unless the deployment requires consent). Customers are named only by
their keyed hash. Imports only layer 0 and the storage modules below it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args

from sqlalchemy import Connection, delete, select, update

from cartwise.errors import InvalidRequest
from cartwise.storage._base import Runner, chunked, require_shop_id
from cartwise.storage.schema import carts, consent_log, orders, to_utc

__all__ = [
    "ConsentEntry",
    "ConsentRepository",
    "ConsentSource",
    "keeps_history",
    "personalised",
]

ConsentSource = Literal["shopper", "admin", "platform"]
"""Who made the choice: the shopper (storefront preferences), the merchant, or the platform."""


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    """One recorded choice: `personalised` True is a grant, False a withdrawal."""

    shop: str
    customer_key: str
    personalised: bool
    source: ConsentSource
    recorded_at: datetime


def personalised(choice: bool | None, *, consent_required: bool) -> bool:
    """Whether a customer is personalised: their latest `choice`, else (None: they never
    chose) the regime's default, opt-out when consent is not required and opt-in when it is."""
    return (not consent_required) if choice is None else choice


def keeps_history(entries: Sequence[ConsentEntry], at: datetime, *, consent_required: bool) -> bool:
    """Whether something the customer did at `at` (an order, a cart) may be stored under their
    key: they were personalised at `at`, and have withdrawn at no time since. `entries` are
    their consent log, oldest first."""
    moment = to_utc(at)
    then: ConsentEntry | None = None
    for entry in entries:
        if entry.recorded_at <= moment:
            then = entry
        elif not entry.personalised:
            return False
    choice = None if then is None else then.personalised
    return personalised(choice, consent_required=consent_required)


class ConsentRepository:
    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def record(
        self,
        domain: str,
        customer_key: str,
        personalised: bool,
        source: ConsentSource,
        *,
        at: datetime | None = None,
    ) -> ConsentEntry:
        """Add a choice to the customer's log (`at` defaults to now); returns it as stored.
        InvalidRequest for an unknown `source`."""
        if source not in get_args(ConsentSource):
            raise InvalidRequest(f"unknown consent source {source!r}")
        entry = ConsentEntry(domain, customer_key, personalised, source, to_utc(at or _now()))
        with self._runner.write(f"recording a consent choice in {domain!r}") as conn:
            conn.execute(
                consent_log.insert().values(
                    shop_domain=domain,
                    customer_key=customer_key,
                    personalised=personalised,
                    source=source,
                    recorded_at=entry.recorded_at,
                )
            )
        return entry

    def latest(self, domain: str, customer_key: str) -> ConsentEntry | None:
        """The customer's current choice, or None when they never made one."""
        with self._runner.read(f"reading a consent choice of {domain!r}") as conn:
            row = conn.execute(
                _of(domain, [customer_key])
                .order_by(consent_log.c.recorded_at.desc(), consent_log.c.id.desc())
                .limit(1)
            ).one_or_none()
        return None if row is None else _entry(row)

    def current(self, domain: str, customer_key: str) -> bool | None:
        """Whether the customer's current choice is to be personalised; None: no choice."""
        with self._runner.read(f"reading a consent choice of {domain!r}") as conn:
            value = conn.execute(
                select(consent_log.c.personalised)
                .where(
                    consent_log.c.shop_domain == domain,
                    consent_log.c.customer_key == customer_key,
                )
                .order_by(consent_log.c.recorded_at.desc(), consent_log.c.id.desc())
                .limit(1)
            ).scalar_one_or_none()
        return None if value is None else bool(value)

    def history(self, domain: str, customer_key: str) -> list[ConsentEntry]:
        """The customer's whole log, oldest first (for exports and for ingestion's rule)."""
        return self.histories(domain, [customer_key]).get(customer_key, [])

    def histories(self, domain: str, customer_keys: Iterable[str]) -> dict[str, list[ConsentEntry]]:
        """`history` of many customers at once; customers without entries are left out."""
        found: dict[str, list[ConsentEntry]] = {}
        with self._runner.read(f"reading consent choices of {domain!r}") as conn:
            for chunk in chunked(dict.fromkeys(customer_keys), 500):
                rows = conn.execute(
                    _of(domain, chunk).order_by(consent_log.c.recorded_at, consent_log.c.id)
                )
                for row in rows:
                    found.setdefault(row.customer_key, []).append(_entry(row))
        return found

    def detach_history(self, domain: str, customer_key: str) -> dict[str, int]:
        """Take the customer's key off their stored orders and carts: their lines stay in the
        shop's aggregate counts, but no longer say whose they were. Returns how many of each."""
        with self._runner.write(f"detaching a customer's history in {domain!r}") as conn:
            shop_id = require_shop_id(conn, domain)
            return {
                "orders": _anonymise(conn, orders, shop_id, customer_key),
                "carts": _anonymise(conn, carts, shop_id, customer_key),
            }

    def delete_customer(self, domain: str, customer_key: str) -> int:
        """Delete the customer's whole log (customers/redact); returns how many entries."""
        with self._runner.write(f"deleting a customer's consent log of {domain!r}") as conn:
            return int(
                conn.execute(
                    delete(consent_log).where(
                        consent_log.c.shop_domain == domain,
                        consent_log.c.customer_key == customer_key,
                    )
                ).rowcount
            )

    def delete_shop(self, domain: str) -> int:
        """Delete every entry of the shop (shop/redact); returns how many."""
        with self._runner.write(f"deleting the consent log of {domain!r}") as conn:
            return int(
                conn.execute(
                    delete(consent_log).where(consent_log.c.shop_domain == domain)
                ).rowcount
            )


def _of(domain: str, customer_keys: Sequence[str]) -> Any:
    return select(consent_log).where(
        consent_log.c.shop_domain == domain, consent_log.c.customer_key.in_(customer_keys)
    )


def _anonymise(conn: Connection, table: Any, shop_id: int, customer_key: str) -> int:
    stmt = (
        update(table)
        .where(table.c.shop_id == shop_id, table.c.customer_id == customer_key)
        .values(customer_id=None)
    )
    return int(conn.execute(stmt).rowcount)


def _entry(row: Any) -> ConsentEntry:
    return ConsentEntry(
        shop=row.shop_domain,
        customer_key=row.customer_key,
        personalised=bool(row.personalised),
        source=cast(ConsentSource, row.source),
        recorded_at=row.recorded_at,
    )


def _now() -> datetime:
    return datetime.now(UTC)
