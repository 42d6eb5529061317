"""Herald's configuration: every knob is an environment variable with a default that serves `make up`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    admin_key: str | None = Field(default=None, alias="HERALD_ADMIN_KEY")
    api_host: str = Field(default="127.0.0.1", alias="HERALD_API_HOST")
    api_port: int = Field(default=8000, alias="HERALD_API_PORT")
    data_dir: Path = Field(default=Path(".herald"), alias="HERALD_DATA_DIR")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    db_pool_min: int = Field(default=1, alias="HERALD_DB_POOL_MIN")
    db_pool_max: int = Field(default=10, alias="HERALD_DB_POOL_MAX")

    temporal_address: str | None = Field(default=None, alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field(default="notifications", alias="HERALD_TASK_QUEUE")
    temporal_port: int = Field(default=7233, alias="HERALD_TEMPORAL_PORT")
    temporal_ui_port: int = Field(default=8233, alias="HERALD_TEMPORAL_UI_PORT")

    max_attempts: int = Field(default=3, ge=1, le=100, alias="HERALD_MAX_ATTEMPTS")
    retry_initial_s: float = Field(default=1.0, gt=0, alias="HERALD_RETRY_INITIAL_S")
    retry_backoff: float = Field(default=2.0, ge=1.0, alias="HERALD_RETRY_BACKOFF")
    retry_max_s: float = Field(default=60.0, gt=0, alias="HERALD_RETRY_MAX_S")
    dlq_retention_days: float = Field(default=14.0, gt=0, alias="HERALD_DLQ_RETENTION_DAYS")
    delivery_timeout_s: float = Field(default=30.0, gt=0, alias="HERALD_DELIVERY_TIMEOUT_S")

    max_body_bytes: int = Field(default=1024 * 1024, alias="HERALD_MAX_BODY_BYTES")

    @field_validator("admin_key")
    @classmethod
    def refuse_placeholder_key(cls, value: str | None) -> str | None:
        # A copied example value in production is worse than no key: refuse it loudly.
        if value is not None and value.strip().lower() in {"changeme", "change-me", "secret", "admin", ""}:
            raise ValueError("HERALD_ADMIN_KEY is a placeholder; set a real key or leave it unset")
        return value

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
