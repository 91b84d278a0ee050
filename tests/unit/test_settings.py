"""Settings (SPEC §10, §11): ``INKWELL_*`` environment variables with safe embedded defaults."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from inkwell.settings import PLACEHOLDER_SECRET, Settings, normalize_database_url

GOOD_SECRET = "s" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No INKWELL_ variable from the outer environment, and no stray .env file in the cwd."""
    for name in list(os.environ):
        if name.startswith("INKWELL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def test_embedded_defaults() -> None:
    settings = Settings()
    assert settings.env == "development"
    assert settings.database_url == "sqlite+aiosqlite:///./var/inkwell.db"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.secret_key == PLACEHOLDER_SECRET
    assert settings.ping_interval == 10.0
    assert settings.builtin_ttft_ms == 0.0
    assert settings.builtin_token_delay_ms == 0.0
    assert settings.upload_image_file_size_limit == 10
    assert settings.ssrf_allow_loopback is False
    assert settings.continue_on_disconnect is False
    assert settings.app_max_execution_time == 1200.0
    assert settings.openai_base_url is None


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "INKWELL_ENV": "test",
        "INKWELL_DATABASE_URL": "sqlite:////tmp/x.db",
        "INKWELL_REDIS_URL": "redis://127.0.0.1:6379/3",
        "INKWELL_SECRET_KEY": GOOD_SECRET,
        "INKWELL_PING_INTERVAL": "2.5",
        "INKWELL_BUILTIN_TTFT_MS": "150",
        "INKWELL_BUILTIN_TOKEN_DELAY_MS": "5",
        "INKWELL_OPENAI_BASE_URL": "http://127.0.0.1:8000/v1",
        "INKWELL_OPENAI_API_KEY": "sk-test",
        "INKWELL_PROVIDERS_FILE": "/etc/inkwell/providers.yml",
        "INKWELL_UPLOAD_IMAGE_FILE_SIZE_LIMIT": "3",
        "INKWELL_SSRF_ALLOW_LOOPBACK": "true",
        "INKWELL_CONTINUE_ON_DISCONNECT": "1",
        "INKWELL_APP_MAX_EXECUTION_TIME": "60",
        "INKWELL_SHUTDOWN_GRACE_SECONDS": "0",
        "INKWELL_MAX_REQUEST_BYTES": "4096",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.env == "test"
    assert settings.database_url == "sqlite+aiosqlite:////tmp/x.db"
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert settings.secret_key == GOOD_SECRET
    assert settings.ping_interval == 2.5
    assert settings.builtin_ttft_ms == 150.0
    assert settings.builtin_token_delay_ms == 5.0
    assert settings.openai_base_url == "http://127.0.0.1:8000/v1"
    assert settings.openai_api_key == "sk-test"
    assert settings.providers_file == Path("/etc/inkwell/providers.yml")
    assert settings.upload_image_file_size_limit == 3
    assert settings.ssrf_allow_loopback is True
    assert settings.continue_on_disconnect is True
    assert settings.app_max_execution_time == 60.0
    assert settings.shutdown_grace_seconds == 0.0
    assert settings.max_request_bytes == 4096


def test_lowercase_variable_names_work_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("inkwell_ping_interval", "4")
    assert Settings().ping_interval == 4.0


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    settings = Settings()
    assert settings.is_sqlite
    assert settings.secret_key == PLACEHOLDER_SECRET


def test_empty_redis_url_means_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKWELL_REDIS_URL", "")
    assert Settings().redis_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("INKWELL_PING_INTERVAL", "0"),
        ("INKWELL_PING_INTERVAL", "soon"),
        ("INKWELL_BUILTIN_TTFT_MS", "-1"),
        ("INKWELL_MAX_REQUEST_BYTES", "0"),
        ("INKWELL_ENV", "staging"),
        ("INKWELL_SSRF_ALLOW_LOOPBACK", "perhaps"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/inkwell", "postgresql+asyncpg://u:p@db:5432/inkwell"),
        ("postgres://u@db/inkwell", "postgresql+asyncpg://u@db/inkwell"),
        ("postgresql+psycopg2://u@db/inkwell", "postgresql+asyncpg://u@db/inkwell"),
        ("postgresql+psycopg://u@db/inkwell", "postgresql+asyncpg://u@db/inkwell"),
        ("postgresql+asyncpg://u@db/inkwell", "postgresql+asyncpg://u@db/inkwell"),
        ("sqlite:///./var/x.db", "sqlite+aiosqlite:///./var/x.db"),
        ("sqlite+aiosqlite:///./var/x.db", "sqlite+aiosqlite:///./var/x.db"),
    ],
)
def test_database_urls_are_normalized(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    assert normalize_database_url(url) == expected
    monkeypatch.setenv("INKWELL_DATABASE_URL", url)
    settings = Settings()
    assert settings.database_url == expected
    assert settings.is_sqlite == expected.startswith("sqlite")


def test_production_refuses_the_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKWELL_ENV", "production")
    with pytest.raises(ValidationError, match="INKWELL_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("INKWELL_SECRET_KEY", PLACEHOLDER_SECRET)
    with pytest.raises(ValidationError, match="INKWELL_SECRET_KEY"):
        Settings()


def test_production_refuses_a_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKWELL_ENV", "production")
    monkeypatch.setenv("INKWELL_SECRET_KEY", "too-short")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings()


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKWELL_ENV", "production")
    monkeypatch.setenv("INKWELL_SECRET_KEY", GOOD_SECRET)
    settings = Settings()
    assert settings.env == "production"
    assert settings.secret_key == GOOD_SECRET


@pytest.mark.parametrize("env", ["development", "test"])
def test_placeholder_is_fine_outside_production(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv("INKWELL_ENV", env)
    assert Settings().secret_key == PLACEHOLDER_SECRET


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKWELL_PING_INTERVAL", "7")
    assert Settings(ping_interval=3).ping_interval == 3.0
    assert Settings(database_url="postgresql://h/d").database_url == "postgresql+asyncpg://h/d"


def test_storage_backend_s3_needs_its_settings_and_builds_an_s3_store() -> None:
    from inkwell.files.s3 import S3Storage
    from inkwell.files.storage import LocalStorage
    from inkwell.runtime import make_storage

    with pytest.raises(ValueError, match="INKWELL_S3_BUCKET"):
        Settings(
            storage_backend="s3",
            s3_endpoint_url="http://127.0.0.1:9000",
            s3_access_key_id="k",
            s3_secret_access_key="s",
        )
    s3 = Settings(
        storage_backend="s3",
        s3_endpoint_url="http://127.0.0.1:9000",
        s3_bucket="inkwell",
        s3_access_key_id="k",
        s3_secret_access_key="s",
    )
    assert isinstance(make_storage(s3), S3Storage)
    assert isinstance(make_storage(Settings()), LocalStorage)
