"""The ``socdesk`` command: help everywhere, user creation, clear one-line failures."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from portal.cli import main
from portal.domain.accounts.models import User
from portal.domain.accounts.passwords import verify_password


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda path: " ".join(path) or "socdesk")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_data_commands_accept_data_dir() -> None:
    for path in [("web",), ("worker",), ("demo",), ("db", "upgrade"), ("user", "create")]:
        result = CliRunner().invoke(main, [*path, "--help"])
        assert "--data-dir" in result.output, path


@pytest.fixture
def env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SOCDESK_DATA_DIR": str(tmp_path)}


async def test_user_create_with_password(env: dict[str, str], sessionmaker) -> None:
    result = await _invoke(
        [
            "user",
            "create",
            "--email",
            "Lead@MSP.example",
            "--role",
            "admin",
            "--password",
            "a long enough password",
        ],
        env,
    )
    assert result.exit_code == 0, result.output
    assert "created admin lead@msp.example" in result.output
    async with sessionmaker() as session:
        user = (await session.execute(select(User).where(User.email == "lead@msp.example"))).scalar_one()
    assert user.role == "admin"
    assert verify_password(user.password_hash, "a long enough password")


async def test_user_create_prompts_for_the_password(env: dict[str, str], sessionmaker) -> None:
    result = await _invoke(
        ["user", "create", "--email", "viewer@msp.example", "--role", "viewer"],
        env,
        stdin="prompted password 1\nprompted password 1\n",
    )
    assert result.exit_code == 0, result.output
    assert "prompted password 1" not in result.output  # hidden input
    async with sessionmaker() as session:
        user = (await session.execute(select(User).where(User.email == "viewer@msp.example"))).scalar_one()
    assert verify_password(user.password_hash, "prompted password 1")


async def test_user_create_refuses_duplicates_and_short_passwords(env: dict[str, str]) -> None:
    args = ["user", "create", "--email", "dup@msp.example", "--role", "analyst", "--password", "x" * 20]
    assert (await _invoke(args, env)).exit_code == 0
    duplicate = await _invoke(args, env)
    assert duplicate.exit_code == 1
    assert "email: A user with this email already exists." in duplicate.output
    short = await _invoke(
        ["user", "create", "--email", "s@msp.example", "--role", "viewer", "--password", "short"], env
    )
    assert short.exit_code == 1
    assert "password: Use at least 12 characters." in short.output


async def test_unreachable_database_is_one_clear_line(tmp_path: Path, redis_url: str) -> None:
    env = {
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/socdesk",
        "REDIS_URL": redis_url,
        "SOCDESK_SECRET_KEY": "k" * 40,
        "SOCDESK_DATA_DIR": str(tmp_path),
    }
    result = await _invoke(["web"], env)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [lines[0]]
    assert lines[0].startswith("Error: PostgreSQL at 127.0.0.1:1/socdesk is unreachable")


async def test_web_needs_a_secret_key_outside_demo_mode(env: dict[str, str]) -> None:
    result = await _invoke(["web"], {**env, "SOCDESK_SECRET_KEY": ""})
    assert result.exit_code == 1
    assert "SOCDESK_SECRET_KEY" in result.output


async def test_db_current_reports_the_revision(env: dict[str, str]) -> None:
    result = await _invoke(["db", "current"], env)
    assert result.exit_code == 0, result.output
    assert "database schema is at" in result.output


async def _invoke(args: list[str], env: dict[str, str], stdin: str | None = None):
    import asyncio

    # The commands run their own event loops, so they run in a thread of their own here.
    return await asyncio.to_thread(CliRunner().invoke, main, args, env=env, input=stdin)


async def test_token_create_prints_a_working_token_once(env: dict[str, str], make_user, sessionmaker) -> None:
    from portal.domain.accounts.tokens import authenticate_token

    user = await make_user()
    result = await _invoke(["token", "create", "--email", user.email, "--name", "backup job"], env)
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("sdk_")
    async with sessionmaker() as session:
        owner = await authenticate_token(session, secret)
    assert owner is not None
    assert owner.id == user.id
    unknown = await _invoke(["token", "create", "--email", "nobody@msp.example"], env)
    assert unknown.exit_code == 1
    assert "No active user with the email nobody@msp.example" in unknown.output
