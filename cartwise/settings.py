"""Typed settings: environment variables with the prefix `CARTWISE_`, nested groups with `__`.

The defaults run the demo with nothing set: SQLite in the working directory, in-process cache and
jobs, the demo shop, the `/v1` API open. This is the only module that reads the environment.
Layer 1: imports only layer 0.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ModelSettings", "ServerSettings", "Settings"]


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class ModelSettings(BaseModel):
    """Engine knobs a merchant may want to set; the engine's own defaults are the tuned ones."""

    default_k: int = Field(default=8, ge=1, le=50)


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
    redis_url: str | None = None
    demo_mode: bool = Field(
        default=True,
        description="Open `/v1` without authentication and serve the demo page (demo only).",
    )
    demo_shop: str = "demo.cartwise.local"
    secret_key: SecretStr = SecretStr("dev-only-not-secret")
    server: ServerSettings = Field(default_factory=ServerSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)

    def resolved_database_url(self, workdir: Path | None = None) -> str:
        """The database URL to open: the configured one, else a SQLite file in `workdir`."""
        if self.database_url:
            return self.database_url
        base = (workdir or Path.cwd()).resolve()
        return f"sqlite:///{base / 'cartwise.db'}"
