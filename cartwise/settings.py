"""Typed settings: environment variables with the prefix `CARTWISE_`, nested groups with `__`.

The defaults run the demo with nothing set: SQLite in the working directory, in-process cache and
jobs, the demo shop, the `/v1` API open. This is the only module that reads the environment.
Layer 1: imports only layer 0.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cartwise.errors import ConfigurationError

__all__ = [
    "JobSettings",
    "MagentoSettings",
    "ModelSettings",
    "RateLimitSettings",
    "ServerSettings",
    "Settings",
    "ShopifySettings",
]

_DEMO_SECRET = "demo-only-secret-key-not-for-production-use"
MIN_SECRET_KEY_LENGTH = 32


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64, description="gunicorn worker processes")
    threads: int = Field(default=1, ge=1, le=256, description="threads per worker (1: sync)")


class ModelSettings(BaseModel):
    """Engine knobs a merchant may want to set; the engine's own defaults are the tuned ones."""

    default_k: int = Field(default=8, ge=1, le=20)
    reload_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="A web process loads a shop's newly saved model at most this often "
        "(a newer one announced sooner waits for the interval; 0: every one at once).",
    )


class ShopifySettings(BaseModel):
    """The Shopify app's credentials from the Partner Dashboard, and what it asks a shop for."""

    client_id: str = ""
    client_secret: SecretStr | None = None
    old_client_secret: SecretStr | None = Field(
        default=None, description="The previous secret, accepted while a rotation settles."
    )
    old_client_secret_until: datetime | None = Field(
        default=None, description="When the old secret stops being accepted (None: while set)."
    )
    scopes: str = "read_orders,read_products,read_inventory,write_app_proxy"
    api_version: str = "2026-10"

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


class MagentoSettings(BaseModel):
    """Connected Magento stores: whether development stores on private addresses (and plain
    http) may be connected, and how far a module delivery's signed time may be from now."""

    allow_private_urls: bool = Field(
        default=False, description="Allow store URLs on private addresses and http (dev only)."
    )
    signature_window_seconds: int = Field(default=300, ge=30, le=3600)


class JobSettings(BaseModel):
    """The background work: where it runs and when a shop's model is rebuilt from storage."""

    in_process: bool = Field(
        default=True, description="Work the job queue in a thread of the web process."
    )
    poll_seconds: float = Field(default=0.1, gt=0, le=60)
    batch_size: int = Field(default=200, ge=1, le=10_000)
    gather_seconds: float = Field(
        default=0.2,
        ge=0,
        le=5,
        description="While deliveries keep coming, jobs are taken this long apart, so one batch "
        "(and one model save per shop) holds many: what an order adds shows within about "
        "this long.",
    )
    lease_seconds: float = Field(
        default=60.0,
        ge=3,
        le=3600,
        description="A claimed job is held this long and renewed while it runs; the jobs of a "
        "worker that died are taken up again after at most this long.",
    )
    queue: str = Field(
        default="cartwise",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="With RQ: the queue's name on Redis (deployments sharing one Redis each "
        "need their own).",
    )
    sweep_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="With RQ: how often each `cartwise worker` looks in the database for ready "
        "jobs whose ticket was lost (a Redis outage, a killed worker) and tickets them again.",
    )
    rebuild_after_events: int = Field(default=500, ge=1)
    rebuild_every_hours: float = Field(default=24.0, gt=0)
    rebuild_delay_seconds: float = Field(
        default=30.0, ge=0, description="Changes that need a rebuild are gathered this long."
    )
    keep_model_versions: int = Field(default=3, ge=1)
    reconcile_every_hours: float = Field(
        default=6.0, gt=0, description="How often each installed shop is synced with its store."
    )


class RateLimitSettings(BaseModel):
    """Requests per shop and per API key (see `cartwise.api.ratelimits`): counted in Redis when
    `redis_url` is set, so every worker shares the count, else in each process. Past a limit
    the answer is 429 `rate_limited` with Retry-After."""

    enabled: bool = Field(
        default=True,
        description="Count requests; off when a proxy in front enforces limits of its own "
        "(storefront events and invalid API keys are limited either way).",
    )
    storefront_per_second: int = Field(
        default=600,
        ge=1,
        description="Storefront reads (recommendations, defaults, app proxy recommendations) "
        "per shop per second; far above what a busy shop sends, it stops a runaway client. "
        "With Redis unreachable each worker counts on its own, at this same limit.",
    )
    api_key_per_second: int | None = Field(
        default=None,
        ge=1,
        description="Storefront reads per API key per second, on top of the shop's limit; "
        "set it below `storefront_per_second` so one key (a leaked one, a looping job) cannot "
        "use up its shop's share. Unset: a key may use all of its shop's.",
    )
    admin_per_minute: int = Field(
        default=60,
        ge=1,
        description="Admin API and dashboard calls per shop per minute. Refused with 503 "
        "`rate_limit_unavailable` while the shared count (Redis) is unreachable.",
    )
    key_prefix: str = Field(
        default="cartwise-limits",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Prefix of the counters' Redis keys; deployments sharing one Redis need "
        "different ones.",
    )


class Settings(BaseSettings):
    """Every knob of a cartwise process. `Settings()` reads `CARTWISE_*` from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CARTWISE_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means a SQLite file `cartwise.db` in the working dir.",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description="Bring the database schema up to date when a process opens it; unset means "
        "yes for SQLite and no for PostgreSQL, migrated with `cartwise db upgrade` on deploy.",
    )
    redis_url: str | None = None
    retention_days: int = Field(
        default=180,
        ge=1,
        description="Webhook bodies, storefront events, exposures and carts older than this are "
        "deleted, and older orders lose their customer and session keys (daily).",
    )
    consent_required: bool = Field(
        default=False,
        description="Personalise only customers who said yes (opt-in, as EU rules ask); off: "
        "customers are personalised until they opt out. Without consent a customer gets the "
        "answers an anonymous shopper gets and no history is kept under their key.",
    )
    attribution_window_hours: float = Field(
        default=24.0,
        gt=0,
        le=24 * 30,
        description="An order counts for recommendations clicked (and for an experiment's "
        "visitor exposed) up to this long before it.",
    )
    events_per_minute: int = Field(
        default=120_000,
        ge=1,
        description="Storefront events (impressions, clicks, add-to-carts) a shop may send per "
        "minute; more are refused with 429 and Retry-After.",
    )
    demo_mode: bool = Field(
        default=True,
        description="Open `/v1` without authentication and serve the demo page (demo only).",
    )
    demo_shop: str = "demo.cartwise.local"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Keys the hashes of customer ids and API keys; required outside demo mode.",
    )
    app_url: str | None = Field(default=None, description="Public https URL of this app.")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token `GET /metrics` requires; unset: loopback callers only.",
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    shopify: ShopifySettings = Field(default_factory=ShopifySettings)
    magento: MagentoSettings = Field(default_factory=MagentoSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)

    def check(self) -> None:
        """Fail start-up clearly (ConfigurationError) on settings a real deployment can't run
        with: outside demo mode a secret key of at least 32 characters is required."""
        if self.demo_mode:
            return
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigurationError(
                "CARTWISE_SECRET_KEY must be set to a random string of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters outside demo mode "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))").'
            )

    def effective_secret_key(self) -> bytes:
        """The key for keyed hashing: the configured one, else a fixed demo-only key."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if not self.demo_mode:
            self.check()
        return _DEMO_SECRET.encode()

    def resolved_database_url(self, workdir: Path | None = None) -> str:
        """The database URL to open: the configured one, else a SQLite file in `workdir`."""
        if self.database_url:
            return self.database_url
        base = (workdir or Path.cwd()).resolve()
        return f"sqlite:///{base / 'cartwise.db'}"
