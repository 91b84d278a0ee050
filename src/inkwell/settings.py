"""Settings: every knob is an ``INKWELL_*`` environment variable with a safe embedded default.

The embedded default is one process on a laptop: SQLite under ``./var/``, no Redis (in-process task
registry), the built-in echo model. ``INKWELL_DATABASE_URL`` and ``INKWELL_REDIS_URL`` switch to
PostgreSQL (asyncpg) and Redis for a fleet.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRET = "inkwell-development-secret-change-me"


def normalize_database_url(url: str) -> str:
    """Accept the URL forms operators write and pick the async driver for them."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INKWELL_", extra="ignore", env_file=None)

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./var/inkwell.db"
    redis_url: str | None = None
    secret_key: str = PLACEHOLDER_SECRET

    # streaming
    ping_interval: float = Field(default=10.0, gt=0)

    # built-in echo model
    builtin_ttft_ms: float = Field(default=0.0, ge=0)
    builtin_token_delay_ms: float = Field(default=0.0, ge=0)

    # providers
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    providers_file: Path | None = None
    upstream_connect_timeout: float = Field(default=10.0, gt=0)
    upstream_read_timeout: float = Field(default=300.0, gt=0)
    upstream_max_connections: int = Field(default=1000, gt=0)
    # one moderation check (openai_moderation, an API-based extension), start to answer, in seconds
    moderation_timeout: float = Field(default=10.0, gt=0)

    # shared state (SPEC §7, §10): Redis round trips fail fast, so an outage is a quick 503, not a hang
    redis_timeout: float = Field(default=2.0, gt=0)
    redis_max_connections: int = Field(default=256, gt=1)
    stop_poll_interval: float = Field(default=1.0, gt=0)
    slot_lease_seconds: float = Field(default=30.0, gt=0)

    # per-app limits; an app's own value (>0) wins; 0 = unlimited
    app_max_active_requests: int = Field(default=0, ge=0)
    app_rate_limit_per_minute: int = Field(default=0, ge=0)

    # task life (SPEC §7)
    continue_on_disconnect: bool = False
    app_max_execution_time: float = Field(default=1200.0, gt=0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)

    # limits
    max_request_bytes: int = Field(default=1024 * 1024, gt=0)
    upload_image_file_size_limit: int = Field(default=10, gt=0)
    # where uploads live: a local directory (default) or an S3-compatible bucket
    storage_backend: Literal["local", "s3"] = "local"
    storage_dir: Path = Path("./var/files")
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str = "us-east-1"
    s3_prefix: str = ""
    ssrf_allow_loopback: bool = False
    # images go to the model as base64 data URLs, or (remote_url files) as their URL
    multimodal_send_format: Literal["base64", "url"] = "base64"
    remote_fetch_timeout: float = Field(default=10.0, gt=0)
    api_key_cache_seconds: float = Field(default=10.0, ge=0)

    # audio (text-to-audio, audio-to-text, speech while streaming; providers in the providers file)
    asr_file_size_limit: int = Field(default=30, gt=0)  # MB; the reference's fixed 30 MB
    tts_max_text_length: int = Field(default=10000, gt=0)  # characters read aloud per request
    tts_max_concurrency: int = Field(default=3, gt=0)  # sentences synthesized at once per stream
    tts_timeout: float = Field(default=30.0, gt=0)  # seconds per sentence while streaming

    # web API (/api) and the published page: passports expire after this many seconds; browser
    # origins allowed to call /api with credentials (comma-separated; "*" reflects any origin)
    passport_ttl_seconds: int = Field(default=86400, gt=0)
    web_api_cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _normalize_db(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("web_api_cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    @field_validator("redis_url")
    @classmethod
    def _empty_redis_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.env == "production" and (self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                "INKWELL_SECRET_KEY must be set to a random value of at least 32 characters when INKWELL_ENV=production"
            )
        return self

    @model_validator(mode="after")
    def _s3_complete(self) -> Settings:
        if self.storage_backend == "s3":
            missing = [
                f"INKWELL_{name.upper()}"
                for name in ("s3_endpoint_url", "s3_bucket", "s3_access_key_id", "s3_secret_access_key")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"INKWELL_STORAGE_BACKEND=s3 needs {', '.join(missing)}")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
