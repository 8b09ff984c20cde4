"""Typed settings, read once from the environment (and an optional ``.env``).

Everything else receives a :class:`Settings` instance; nothing outside this module reads
``os.environ``. ``DATABASE_URL`` and ``REDIS_URL`` keep their conventional names so socdesk
drops into the usual container platforms; everything else is ``SOCDESK_*``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """Settings that cannot work together; the message says what to set."""


def default_data_dir() -> Path:
    return platformdirs.user_data_path("socdesk", appauthor=False)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SOCDESK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SOCDESK_DATABASE_URL"),
        description="PostgreSQL URL; unset starts an embedded PostgreSQL under the data folder.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "SOCDESK_REDIS_URL"),
        description="Redis/Valkey URL; unset starts an embedded Valkey under the data folder.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where embedded services, the demo secret and other local state live.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs CSRF tokens and derives encryption keys. Required outside demo mode.",
    )
    demo: bool = Field(default=False, description="Demo mode: generated secret, seeded data.")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address staff use; an https:// URL turns on Secure cookies and HSTS.",
    )
    session_idle_minutes: int = Field(default=30, ge=1, description="Sign-out after this much inactivity.")
    session_absolute_hours: int = Field(default=12, ge=1, description="Sign-out this long after sign-in.")
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_throttle_minutes: int = Field(default=15, ge=1)
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description=(
            "Keys for secrets at rest, newest first (comma-separated). Unset: derived from the secret key. "
            "To rotate, put the new key first, keep the old ones after it and run `socdesk keys rotate`."
        ),
    )
    heartbeat_stale_seconds: int = Field(default=120, ge=10)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def https(self) -> bool:
        return self.public_url.lower().startswith("https://")

    def secret(self) -> str:
        if self.secret_key is None:
            raise ConfigurationError(
                "SOCDESK_SECRET_KEY is not set. Set it to a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
                "or run `socdesk demo`, which keeps a generated one in its data folder."
            )
        value = self.secret_key.get_secret_value()
        if len(value) < 32:
            raise ConfigurationError("SOCDESK_SECRET_KEY must be at least 32 characters long.")
        return value


def load_settings(*, env_file: Path | None = None, **overrides: object) -> Settings:
    """Build settings from the environment; explicit ``overrides`` (CLI flags) win."""
    clean: dict[str, Any] = {key: value for key, value in overrides.items() if value is not None}
    if env_file is not None:
        return Settings(_env_file=env_file, **clean)
    return Settings(**clean)


def with_demo_secret(settings: Settings) -> Settings:
    """Demo mode keeps one generated secret in its data folder so sessions survive restarts."""
    if settings.secret_key is not None:
        return settings
    path = settings.data_dir / "secret_key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
    return settings.model_copy(update={"secret_key": SecretStr(path.read_text(encoding="utf-8").strip())})
