"""Deterministic assignment of a visitor to an experiment arm, by hashing, with no stored state.

The same (shop, experiment, visitor) always lands in the same arm, in any process, so the
storefront, the server and a later attribution job agree without a lookup table. Imports layer 0
only.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Final, Literal

from cartwise.errors import InvalidRequest

ArmKind = Literal["no_recommendations", "trending_only", "variant"]
CONTROL_KINDS: Final = frozenset({"no_recommendations", "trending_only"})
MAX_HOLDOUT_SHARE: Final = 0.5

# Changing the key, the salts or the encoding reshuffles every running experiment.
_HASH_KEY: Final = b"cartwise-assignment-v1"
_ARM_SALT: Final = "arm"
_HOLDOUT_SALT: Final = "holdout"


@dataclass(frozen=True)
class Arm:
    """One arm: the control (`kind` says what it shows) or a variant with its settings overrides."""

    key: str
    weight: float
    kind: ArmKind = "variant"
    settings: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key:
            raise InvalidRequest("an arm needs a non-empty key")
        if not math.isfinite(self.weight) or self.weight <= 0:
            raise InvalidRequest(f"arm {self.key!r}: weight must be a positive number")
        if self.kind not in CONTROL_KINDS and self.kind != "variant":
            raise InvalidRequest(f"arm {self.key!r}: unknown kind {self.kind!r}")
        if self.kind in CONTROL_KINDS and self.settings:
            raise InvalidRequest(f"arm {self.key!r}: a control arm carries no settings")

    @property
    def is_control(self) -> bool:
        return self.kind in CONTROL_KINDS


@dataclass(frozen=True)
class Experiment:
    """An experiment: exactly one control arm, one or more variants, and a holdout share.

    `holdout_share` (0 to 0.5) of a shop's visitors are held out before any arm is drawn. The
    holdout hash ignores the experiment key, so within a shop the same visitors are held out of
    every experiment (those of a smaller share are a subset of those of a larger one), and it uses
    its own salt, so being held out does not correlate with the arm.
    """

    key: str
    arms: tuple[Arm, ...]
    holdout_share: float = 0.0

    def __post_init__(self) -> None:
        if not self.key:
            raise InvalidRequest("an experiment needs a non-empty key")
        keys = [arm.key for arm in self.arms]
        if len(set(keys)) != len(keys):
            raise InvalidRequest(f"experiment {self.key!r}: arm keys must be unique")
        controls = [arm for arm in self.arms if arm.is_control]
        if len(controls) != 1:
            raise InvalidRequest(f"experiment {self.key!r}: needs exactly one control arm")
        if len(self.arms) < 2:
            raise InvalidRequest(f"experiment {self.key!r}: needs at least one variant arm")
        share = self.holdout_share
        if not math.isfinite(share) or not 0.0 <= share <= MAX_HOLDOUT_SHARE:
            raise InvalidRequest(
                f"experiment {self.key!r}: holdout_share must be between 0 and {MAX_HOLDOUT_SHARE}"
            )

    @property
    def control(self) -> Arm:
        return next(arm for arm in self.arms if arm.is_control)

    def arm(self, key: str) -> Arm:
        """The arm named `key`; `InvalidRequest` if there is none."""
        for arm in self.arms:
            if arm.key == key:
                return arm
        raise InvalidRequest(f"experiment {self.key!r} has no arm {key!r}")


@dataclass(frozen=True)
class Assignment:
    """Where a visitor landed; a held-out visitor is shown the control and left out of analysis."""

    experiment: str
    arm: str
    holdout: bool


def unit_hash(*parts: str) -> float:
    """A stable, uniform number in [0, 1) from the top 64 bits of a keyed BLAKE2b digest.

    Each part is length-prefixed before hashing, so ("ab", "c") and ("a", "bc") differ.
    """
    encoded = b"".join(
        len(raw).to_bytes(4, "big") + raw for raw in (part.encode("utf-8") for part in parts)
    )
    digest = hashlib.blake2b(encoded, digest_size=8, key=_HASH_KEY).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign(shop: str, experiment: Experiment, visitor: str) -> Assignment:
    """Assign `visitor` (a session id or customer id) of `shop` to an arm of `experiment`.

    Pure and deterministic; raises `InvalidRequest` for an empty shop or visitor.
    """
    if not shop:
        raise InvalidRequest("assignment needs a shop")
    if not visitor:
        raise InvalidRequest("assignment needs a visitor id")
    if unit_hash(_HOLDOUT_SALT, shop, visitor) < experiment.holdout_share:
        return Assignment(experiment.key, experiment.control.key, holdout=True)
    bounds = list(accumulate(arm.weight for arm in experiment.arms))
    point = unit_hash(_ARM_SALT, shop, experiment.key, visitor) * bounds[-1]
    index = min(bisect_right(bounds, point), len(bounds) - 1)
    return Assignment(experiment.key, experiment.arms[index].key, holdout=False)
