"""The ``socdesk`` command."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from portal.config import ConfigurationError, Settings, load_settings, with_demo_secret
from portal.runtime.bootstrap import BootstrapError, Runtime, configure_logging, start_runtime

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(function: F) -> F:
    """``--data-dir`` and ``--env-file`` on every command that touches data."""

    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="SOCDESK_DATA_DIR",
        help="Folder for embedded PostgreSQL/Valkey and local state (default: per-user data folder).",
    )
    @click.option(
        "--env-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Read settings from this file instead of ./.env.",
    )
    @functools.wraps(function)
    def wrapper(*args: Any, data_dir: Path | None, env_file: Path | None, **kwargs: Any) -> Any:
        try:
            settings = load_settings(env_file=env_file, data_dir=data_dir)
        except ValueError as exc:
            raise click.ClickException(f"invalid settings: {exc}") from exc
        configure_logging(settings)
        return function(*args, settings=settings, **kwargs)

    return wrapper  # type: ignore[return-value]


def _runtime(settings: Settings, *, require_migrated: bool = True) -> Runtime:
    try:
        return start_runtime(settings, require_migrated=require_migrated)
    except BootstrapError as exc:
        raise click.ClickException(str(exc)) from exc


def _require_secret(settings: Settings) -> None:
    try:
        settings.secret()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="socdesk")
def main() -> None:
    """socdesk: the security-operations portal for MSPs."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--proxy-headers/--no-proxy-headers", default=False, help="Trust X-Forwarded-* from a proxy.")
@settings_options
def web(settings: Settings, host: str, port: int, proxy_headers: bool) -> None:
    """Serve the web application."""
    import uvicorn

    from portal.app import create_app

    _require_secret(settings)
    runtime = _runtime(settings)
    try:
        # uvicorn re-raises Ctrl-C after a clean shutdown; that is a normal stop.
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.run(
                create_app(runtime.settings),
                host=host,
                port=port,
                proxy_headers=proxy_headers,
                log_level="info",
                # Live-update streams stay open until the browser leaves: give them 3 s, then close them.
                timeout_graceful_shutdown=3,
            )
    finally:
        runtime.release()


@main.command()
@settings_options
def worker(settings: Settings) -> None:
    """Run the background worker (imports, syncs, outbound deliveries, heartbeats)."""
    from workers.settings import build_worker

    runtime = _runtime(settings)
    try:
        build_worker(runtime.settings, runtime.urls.database_url, runtime.urls.redis_url).run()
    finally:
        runtime.release()


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@settings_options
def db_upgrade(settings: Settings, revision: str) -> None:
    """Apply schema migrations."""
    from portal.db.migrate import upgrade
    from portal.runtime.seed import prepare_database

    runtime = _runtime(settings, require_migrated=False)
    try:
        upgrade(runtime.urls.database_url, revision)
        if revision == "head":
            asyncio.run(prepare_database(runtime.urls.database_url))
        click.echo(f"database is at {revision}")
    finally:
        runtime.release()


@db.command("current")
@settings_options
def db_current(settings: Settings) -> None:
    """Show the database's schema revision and the code's."""
    from portal.db.engine import make_engine
    from portal.db.migrate import schema_status

    runtime = _runtime(settings, require_migrated=False)

    async def status() -> str:
        engine = make_engine(runtime.urls.database_url)
        try:
            return (await schema_status(engine)).describe()
        finally:
            await engine.dispose()

    try:
        click.echo(asyncio.run(status()))
    finally:
        runtime.release()


@main.group()
def user() -> None:
    """Staff accounts."""


@user.command("create")
@click.option("--email", required=True, help="Sign-in email address.")
@click.option("--role", type=click.Choice(["admin", "analyst", "viewer"]), required=True, help="What the user may do.")
@click.option("--name", "display_name", default="", help="Display name (default: from the email).")
@click.option("--password", default=None, help="Password; prompted for when omitted (recommended).")
@settings_options
def user_create(settings: Settings, email: str, role: str, display_name: str, password: str | None) -> None:
    """Create a staff user."""
    from portal.domain.accounts.models import Role
    from portal.domain.accounts.service import AccountError, NewUser
    from portal.runtime.seed import create_user_now

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    runtime = _runtime(settings)
    try:
        created = asyncio.run(
            create_user_now(
                runtime.urls.database_url,
                NewUser(email=email, display_name=display_name, role=Role(role), password=password or ""),
            )
        )
    except AccountError as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from exc
    finally:
        runtime.release()
    click.echo(f"created {created.role} {created.email}")


@main.group()
def token() -> None:
    """Personal API tokens."""


@token.command("create")
@click.option("--email", required=True, help="The user the token acts as (with their role and clients).")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option("--expires-days", type=int, default=None, help="Days until it expires (default: never).")
@settings_options
def token_create(settings: Settings, email: str, name: str, expires_days: int | None) -> None:
    """Create an API token and print it once."""
    from portal.domain.errors import ValidationError
    from portal.runtime.seed import issue_token_now

    runtime = _runtime(settings)
    try:
        secret = asyncio.run(issue_token_now(runtime.urls.database_url, email, name, expires_days))
    except ValidationError as exc:
        raise click.ClickException(" ".join(exc.fields.values())) from exc
    finally:
        runtime.release()
    click.echo(secret)


@main.group()
def sync() -> None:
    """Vendor synchronisation."""


@sync.command("run")
@click.option("--connection", "connection_ref", required=True, help="Connection name or id.")
@click.option("--client", "client_ref", default=None, help="Only this linked client (name or id).")
@click.option("--entity", default=None, help="Only this entity (e.g. incidents); default: all of the vendor's.")
@settings_options
def sync_run(settings: Settings, connection_ref: str, client_ref: str | None, entity: str | None) -> None:
    """Run a sync now, in this process, to the end; prints one line per client and entity."""
    from portal.runtime.sync_commands import SyncCommandError, run_sync_now

    _require_secret(settings)
    runtime = _runtime(settings)
    try:
        lines = asyncio.run(
            run_sync_now(runtime.settings, runtime.urls.database_url, connection_ref, client_ref, entity)
        )
    except SyncCommandError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        runtime.release()
    for line in lines:
        click.echo(line)


@main.group()
def keys() -> None:
    """Encryption keys for secrets at rest."""


@keys.command("rotate")
@settings_options
def keys_rotate(settings: Settings) -> None:
    """Re-encrypt every stored secret with the first key of SOCDESK_ENCRYPTION_KEYS."""
    from portal.runtime.sync_commands import rotate_keys

    _require_secret(settings)
    runtime = _runtime(settings)
    try:
        count = asyncio.run(rotate_keys(runtime.settings, runtime.urls.database_url))
    finally:
        runtime.release()
    click.echo(f"re-encrypted the secrets of {count} connection(s)")


@main.command()
@click.argument("vendor")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8100, show_default=True, type=int, help="Port to listen on.")
def emulate(vendor: str, host: str, port: int) -> None:
    """Serve a vendor emulator (e.g. acme): its API, sign-in and /_emulator admin routes."""
    from portal.integrations.emulation.app import serve
    from portal.integrations.emulation.catalog import EMULATORS

    if vendor not in EMULATORS:
        raise click.ClickException(f"no emulator for {vendor!r}; available: {', '.join(sorted(EMULATORS))}")
    app, _ = EMULATORS[vendor]()
    click.echo(f"\n  {vendor} emulator on http://{host}:{port}/ (API and sign-in; admin under /_emulator)\n")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo("  warning: /_emulator admin routes have no authentication; keep this off shared networks\n")
    sys.stdout.flush()
    serve(app, host=host, port=port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@settings_options
def demo(settings: Settings, host: str, port: int) -> None:
    """Run everything at once: migrate, seed a demo admin, serve the web app and a worker."""
    from portal.db.migrate import upgrade
    from portal.runtime.demo import run_demo
    from portal.runtime.seed import ensure_demo, prepare_database

    settings = with_demo_secret(settings.model_copy(update={"demo": True}))
    if settings.public_url == Settings.model_fields["public_url"].default:
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    runtime = _runtime(settings, require_migrated=False)
    try:
        upgrade(runtime.urls.database_url)
        asyncio.run(prepare_database(runtime.urls.database_url))
        credentials = asyncio.run(ensure_demo(runtime.settings))
        embedded = ", ".join(runtime.urls.embedded) or "none (external servers)"
        admin, *staff = credentials
        others = "".join(f"\n    also {c.email} ({c.role}) with password {c.password}" for c in staff)
        click.echo(
            f"\n  socdesk demo is starting on http://{host}:{port}/\n"
            f"  sign in as {admin.email} with password {admin.password}{others}\n"
            f"  data folder: {settings.data_dir}   embedded services: {embedded}\n",
        )
        sys.stdout.flush()
        # Ctrl-C is how a demo ends: uvicorn re-raises it after a clean shutdown.
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(runtime, host=host, port=port))
    finally:
        runtime.release()


if __name__ == "__main__":
    main()
