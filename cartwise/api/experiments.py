"""The merchant's experiments: start one (arms, holdout, planned sample size), stop it, list
them, read the latest readout. Same credentials as the rest of the admin API; the shop is
always the credential's. Imports Flask and layers 0-4.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cartwise.api.auth import admin_caller
from cartwise.api.bodies import parse_json
from cartwise.api.context import services
from cartwise.arms import experiment_from
from cartwise.errors import NotFound
from cartwise.experiments import sample_size_two_proportions
from cartwise.readouts import compute_readout
from cartwise.schemas import Placement
from cartwise.storage.experiments import ExperimentRecord

__all__ = ["ArmBody", "ExperimentBody", "ExperimentInfo", "ExperimentList", "bp"]

bp = Blueprint("experiments", __name__, url_prefix="/v1/admin/experiments")


class ArmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: Literal["no_recommendations", "trending_only", "variant"] = "variant"
    weight: float = Field(default=1.0, gt=0, le=1000)
    settings: dict[str, bool | float] = Field(
        default_factory=dict,
        description="A variant's changes: `personalised` (true/false), `exploration_share`.",
    )


class ExperimentBody(BaseModel):
    """A new experiment. The planned visitors per arm are given, or computed from the current
    conversion rate and the smallest absolute lift worth detecting (5 % significance, 80 %
    power); no verdict is shown before both arms reach them."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    arms: list[ArmBody] = Field(min_length=2, max_length=10)
    holdout_share: float = Field(default=0.0, ge=0.0, le=0.5)
    placement: Placement | None = Field(
        default=None, description="Split only this placement's answers (default: all)."
    )
    planned_visitors_per_arm: int | None = Field(default=None, ge=100, le=100_000_000)
    baseline_conversion: float | None = Field(default=None, gt=0.0, lt=1.0)
    minimum_detectable_effect: float | None = Field(default=None, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _plan(self) -> ExperimentBody:
        derived = self.baseline_conversion is not None or self.minimum_detectable_effect is not None
        if self.planned_visitors_per_arm is None and not derived:
            raise ValueError(
                "give planned_visitors_per_arm, or baseline_conversion and "
                "minimum_detectable_effect to compute it"
            )
        if derived and (self.baseline_conversion is None or self.minimum_detectable_effect is None):
            raise ValueError("baseline_conversion and minimum_detectable_effect go together")
        return self

    def definition(self) -> dict[str, Any]:
        plan = self.planned_visitors_per_arm
        if plan is None:
            assert self.baseline_conversion is not None
            assert self.minimum_detectable_effect is not None
            plan = sample_size_two_proportions(
                self.baseline_conversion, self.minimum_detectable_effect
            )
        return {
            "arms": [arm.model_dump() for arm in self.arms],
            "holdout_share": self.holdout_share,
            "placement": self.placement,
            "planned_visitors_per_arm": plan,
            "baseline_conversion": self.baseline_conversion,
            "minimum_detectable_effect": self.minimum_detectable_effect,
        }


class ExperimentInfo(BaseModel):
    """An experiment as stored, and (from `GET /v1/admin/experiments/<key>`) its latest readout:
    KPIs per arm, tests against the control with intervals, the fixed-horizon decision."""

    key: str
    running: bool
    started_at: datetime
    stopped_at: datetime | None
    arms: list[ArmBody]
    holdout_share: float
    placement: Placement | None = None
    planned_visitors_per_arm: int
    baseline_conversion: float | None = None
    minimum_detectable_effect: float | None = None
    readout: dict[str, Any] | None = None


class ExperimentList(BaseModel):
    experiments: list[ExperimentInfo]


@bp.post("")
def start() -> Response:
    """201 with the experiment; 422 for a definition that is not a valid experiment (no or two
    controls, an unknown setting…); 409 while another experiment runs or for a used key."""
    caller = admin_caller()
    body = parse_json(ExperimentBody)
    definition = body.definition()
    experiment_from(definition, body.key)  # refuses what could never be served
    ctx = services()
    ctx.store.experiments.start(caller.shop, body.key, definition, datetime.now(UTC))
    _changed(caller.shop)
    record = ctx.store.experiments.get(caller.shop, body.key)
    assert record is not None
    response = jsonify(_describe(record))
    response.status_code = 201
    return response


@bp.post("/<key>/stop")
def stop(key: str) -> Response:
    caller = admin_caller()
    ctx = services()
    record = ctx.store.experiments.stop(caller.shop, key, datetime.now(UTC))
    _changed(caller.shop)
    if ctx.exposures is not None:
        ctx.exposures.flush()
    compute_readout(ctx.store, caller.shop, key, window=_window())
    return jsonify(_describe(record))


@bp.get("")
def list_all() -> Response:
    caller = admin_caller()
    records = services().store.experiments.all(caller.shop)
    return jsonify({"experiments": [_describe(r) for r in records]})


@bp.get("/<key>")
def readout(key: str) -> Response:
    """The experiment and its latest readout; `?refresh=1` computes a new one first."""
    caller = admin_caller()
    ctx = services()
    record = ctx.store.experiments.get(caller.shop, key)
    if record is None:
        raise NotFound(f"no experiment {key!r}")
    if request.args.get("refresh") == "1":
        if ctx.exposures is not None:
            ctx.exposures.flush()
        compute_readout(ctx.store, caller.shop, key, window=_window())
    saved = ctx.store.experiments.report(caller.shop, key)
    body = _describe(record)
    body["readout"] = saved[0] if saved is not None else None
    return jsonify(body)


def _window() -> timedelta:
    return timedelta(hours=services().settings.attribution_window_hours)


def _changed(shop: str) -> None:
    memory = services().experiments
    if memory is not None:
        memory.invalidate(shop)


def _describe(record: ExperimentRecord) -> dict[str, Any]:
    info = ExperimentInfo.model_validate(
        {
            **record.definition,
            "key": record.key,
            "running": record.running,
            "started_at": record.started_at,
            "stopped_at": record.stopped_at,
        }
    )
    return info.model_dump(mode="json")
