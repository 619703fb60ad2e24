"""Service settings, read from ``CRM_*`` environment variables (and ``.env`` if present)."""

from __future__ import annotations

import ipaddress
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite+aiosqlite:///./{VAR_DIR}/crm.db"
    secret_key: str = Field(default="", repr=False)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    # Login throttle, per (client address, username): after login_max_failures failures
    # each further one locks the pair for login_first_lockout_seconds, doubling up to
    # login_lockout_minutes; failures are forgotten login_lockout_minutes after the last.
    login_max_failures: int = Field(default=5, ge=1)
    login_first_lockout_seconds: int = Field(default=30, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
    # GET /metrics answers the loopback address, a request with this bearer token, and
    # clients in these networks (comma-separated CIDRs, e.g. "10.0.0.0/8,192.168.1.0/24").
    metrics_token: str = Field(default="", repr=False)
    metrics_allow: str = ""
    log_level: str = "INFO"
    idempotency_hours: int = Field(default=24, ge=1)
    # A key whose request has run this long without an answer is presumed abandoned
    # (the process died): a retry may take it over if nothing was committed.
    idempotency_lease_seconds: int = Field(default=600, ge=1)
    # How long the change feed (and the mobile sync log) keeps entries; older cursors get 410.
    change_retention_days: int = Field(default=90, ge=1)
    # Webhooks: targets on private/loopback networks (and plain http) are refused unless this is
    # set (tests, on-premises installs); per-attempt timeout; the worker inside the service.
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_worker: bool = True
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    webhook_concurrency: int = Field(default=10, ge=1, le=100)
    # A claimed delivery not finished within this long (its worker died) is attempted again.
    webhook_lease_seconds: int = Field(default=60, ge=5)
    # An endpoint whose every attempt has failed for this long is disabled.
    webhook_disable_after_hours: int = Field(default=72, ge=1)
    # An API key's last_used_at is written at most this often (not on every request).
    api_key_touch_seconds: int = Field(default=300, ge=0)
    db_pool_size: int = Field(default=10, ge=1)
    db_echo: bool = False
    recycle_interval_seconds: int = Field(default=300, ge=0)
    migrations_dir: Path | None = None
    # The business time zone: calendar days (days overdue, aging, report dates) are counted in it.
    timezone: str = "Asia/Shanghai"
    # Printed at the top of statements of account.
    company_name: str = "Sales CRM"

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: str) -> str:
        for network in filter(None, (n.strip() for n in value.split(","))):
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # Accept "https://a.example,https://b.example" as well as a JSON list.
        if isinstance(value, str) and not value.strip().startswith("["):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"CRM_TIMEZONE {value!r} is not a known IANA time zone") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @model_validator(mode="after")
    def _require_secret_in_production(self) -> Settings:
        if self.env == "production" and len(self.secret_key) < 32:
            raise ValueError("CRM_SECRET_KEY (32+ characters) is required when CRM_ENV=production")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def effective_secret_key(self) -> str:
        """The signing key; in development one is generated once and kept in ./var/."""
        if self.secret_key:
            return self.secret_key
        path = VAR_DIR / "secret_key"
        if path.exists():
            return path.read_text().strip()
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
