"""Experiments at serving time: which arm a shopper is in, the exposure log the readout counts
visitors from, and the storefront record exploration draws on.

Each is held in process and read from storage at most every few seconds, so an answer costs
no database round trip for them; exposures are buffered and written in batches. Layer 4.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cartwise.errors import InvalidRequest
from cartwise.experiments import Arm, Experiment, ItemStats, assign
from cartwise.schemas import ExperimentArm
from cartwise.serving import Treatment
from cartwise.storage import Store
from cartwise.storage.experiments import ExperimentRecord, ExposureRecord

__all__ = [
    "ExperimentMemory",
    "ExposureLog",
    "RunningExperiment",
    "StorefrontRecord",
    "experiment_from",
    "treatment_for",
]

log = logging.getLogger(__name__)

EXPLORATION_LOOKBACK = timedelta(days=30)
"""How far back a product's impressions and clicks count for exploration."""

_VARIANT_SETTINGS = {"personalised": bool, "exploration_share": float}
"""What a variant arm may change, and the type each setting takes."""


def experiment_from(
    record: ExperimentRecord | Mapping[str, Any], key: str | None = None
) -> Experiment:
    """The experiment a stored (or submitted) definition describes; `InvalidRequest` when it
    does not describe a valid one."""
    if isinstance(record, ExperimentRecord):
        definition, key = record.definition, record.key
    else:
        definition = record
    if key is None:
        raise InvalidRequest("an experiment needs a key")
    raw_arms = definition.get("arms")
    if not isinstance(raw_arms, list):
        raise InvalidRequest("arms must be a list")
    arms = []
    for raw in raw_arms:
        if not isinstance(raw, Mapping):
            raise InvalidRequest("each arm must be an object")
        settings = dict(raw.get("settings") or {})
        for name, value in settings.items():
            kind = _VARIANT_SETTINGS.get(name)
            if kind is None:
                raise InvalidRequest(
                    f"arm {raw.get('key')!r}: unknown setting {name!r} "
                    f"(known: {', '.join(sorted(_VARIANT_SETTINGS))})"
                )
            if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidRequest(f"arm {raw.get('key')!r}: {name} must be a number")
            if kind is bool and not isinstance(value, bool):
                raise InvalidRequest(f"arm {raw.get('key')!r}: {name} must be true or false")
        share = settings.get("exploration_share")
        if share is not None and not 0.0 <= float(share) <= 0.5:
            raise InvalidRequest(f"arm {raw.get('key')!r}: exploration_share must be 0 to 0.5")
        arms.append(
            Arm(
                key=str(raw.get("key") or ""),
                weight=float(raw.get("weight", 1.0)),
                kind=raw.get("kind", "variant"),
                settings=settings,
            )
        )
    return Experiment(
        key=key, arms=tuple(arms), holdout_share=float(definition.get("holdout_share", 0.0))
    )


def treatment_for(shop: str, experiment: Experiment, visitor: str) -> Treatment:
    """The arm `visitor` is in, as what serving should change."""
    assignment = assign(shop, experiment, visitor)
    arm = experiment.arm(assignment.arm)
    label = ExperimentArm(
        experiment=assignment.experiment, arm=assignment.arm, holdout=assignment.holdout
    )
    if arm.is_control:
        return Treatment(label=label, kind=arm.kind)
    share = arm.settings.get("exploration_share")
    return Treatment(
        label=label,
        kind="variant",
        personalised=bool(arm.settings.get("personalised", True)),
        exploration_share=None if share is None else float(share),  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class RunningExperiment:
    """A shop's running experiment and the placement it splits (None: every placement)."""

    experiment: Experiment
    placement: str | None = None

    def covers(self, placement: str) -> bool:
        return self.placement is None or self.placement == placement


class ExperimentMemory:
    """Each shop's running experiment, read from storage at most every `ttl` seconds."""

    def __init__(
        self, store: Store, *, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._held: dict[str, tuple[float, RunningExperiment | None]] = {}

    def running(self, shop: str) -> RunningExperiment | None:
        now = self._clock()
        held = self._held.get(shop)
        if held is not None and now - held[0] <= self._ttl:
            return held[1]
        experiment: RunningExperiment | None = None
        try:
            record = self._store.experiments.running(shop)
            if record is not None:
                placement = record.definition.get("placement")
                experiment = RunningExperiment(
                    experiment_from(record), str(placement) if placement else None
                )
        except InvalidRequest:
            log.exception("the running experiment of %s is not valid; ignoring it", shop)
        self._held[shop] = (now, experiment)
        return experiment

    def invalidate(self, shop: str) -> None:
        self._held.pop(shop, None)


class ExposureLog:
    """Who was answered under which arm, buffered in memory and written in one batch per shop
    once the oldest entry is `interval` seconds old (or on `flush()`), so exposures cost the
    request path no write. A crash loses at most the last `interval` seconds of exposures,
    never anything else."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 1.0,
        max_entries: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._interval = interval
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str, str], ExposureRecord] = {}
        self._since: float | None = None

    def record(
        self,
        shop: str,
        label: ExperimentArm,
        session_id: str,
        placement: str,
        customer_id: str | None,
        at: datetime | None = None,
    ) -> None:
        when = at or datetime.now(UTC)
        key = (shop, label.experiment, session_id, placement)
        with self._lock:
            now = ExposureRecord(
                label.experiment,
                session_id,
                placement,
                label.arm,
                label.holdout,
                when,
                when,
                customer_id,
            )
            seen = self._pending.get(key)
            self._pending[key] = now if seen is None else seen.merged(now)
            if self._since is None:
                self._since = self._clock()
            due = len(self._pending) >= self._max or self._clock() - self._since >= self._interval
        if due:
            self.flush()

    def flush(self) -> int:
        """Write what is buffered; returns how many exposures were written. On a storage
        failure they are kept for the next flush (up to the buffer's bound)."""
        with self._lock:
            pending, self._pending, self._since = self._pending, {}, None
        by_shop: dict[str, list[ExposureRecord]] = {}
        for (shop, *_), record in pending.items():
            by_shop.setdefault(shop, []).append(record)
        written = 0
        for shop, records in by_shop.items():
            try:
                self._store.experiments.record_exposures(shop, records)
                written += len(records)
            except Exception:
                log.exception("could not log %d exposures of %s; keeping them", len(records), shop)
                with self._lock:
                    for r in records:
                        key = (shop, r.experiment, r.session_id, r.placement)
                        if len(self._pending) < self._max:
                            self._pending.setdefault(key, r)
                    if self._since is None:
                        self._since = self._clock()
        return written


class StorefrontRecord:
    """Each product's impressions and successes (clicks and add-to-carts) over the last 30
    days, per shop, read at most every `ttl` seconds: what Thompson sampling draws on. A
    success is a click or an add-to-cart, counted by the larger of the two (a shopper who
    clicks and then adds is one success)."""

    def __init__(
        self, store: Store, *, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._held: dict[str, tuple[float, dict[str, ItemStats]]] = {}

    def stats(self, shop: str) -> Mapping[str, ItemStats]:
        now = self._clock()
        held = self._held.get(shop)
        if held is not None and now - held[0] <= self._ttl:
            return held[1]
        counts = self._store.tracking.by_product(shop, datetime.now(UTC) - EXPLORATION_LOOKBACK)
        stats = {}
        for product_id, kinds in counts.items():
            shown = kinds.get("impression", 0)
            wins = max(kinds.get("click", 0), kinds.get("add_to_cart", 0))
            # a click without a reported impression (a blocked beacon) still proves one
            shown = max(shown, wins)
            stats[product_id] = ItemStats(impressions=shown, successes=wins)
        self._held[shop] = (now, stats)
        return stats
