from __future__ import annotations

from pathlib import Path

import pytest

from portal.app import create_app
from portal.config import ConfigurationError, Settings, load_settings, with_demo_secret


def test_secret_key_is_required_outside_demo_mode(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=None)
    with pytest.raises(ConfigurationError, match="SOCDESK_SECRET_KEY is not set"):
        create_app(settings)


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        Settings(data_dir=tmp_path, secret_key="short").secret()


def test_demo_generates_one_secret_and_keeps_it(tmp_path: Path) -> None:
    first = with_demo_secret(Settings(data_dir=tmp_path, secret_key=None))
    second = with_demo_secret(Settings(data_dir=tmp_path, secret_key=None))
    assert first.secret() == second.secret()
    assert len(first.secret()) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_env_file_and_conventional_url_names(tmp_path: Path) -> None:
    env_file = tmp_path / "socdesk.env"
    env_file.write_text(
        "DATABASE_URL=postgresql://db.internal/socdesk\nSOCDESK_SESSION_IDLE_MINUTES=45\n", encoding="utf-8"
    )
    settings = load_settings(env_file=env_file, data_dir=tmp_path)
    assert settings.database_url == "postgresql://db.internal/socdesk"
    assert settings.session_idle_minutes == 45
    assert settings.data_dir == tmp_path.resolve()


def test_secret_never_appears_in_repr(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="s3cr3t-" + "z" * 40)
    assert "s3cr3t" not in repr(settings)
