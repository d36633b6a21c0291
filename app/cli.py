"""The ``escort`` command: demo, serve, db, users, tokens, devices, simulate, purge."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.config import GUNICORN_SAFE_LOGGING, Config, ConfigError


class CliError(click.ClickException):
    """A one-line error and exit status 1."""


@contextmanager
def _session(upgrade: bool = False) -> Iterator[Session]:
    """Open a session on the configured database, turning failures into one clear line."""
    from app.db import make_engine
    from app.db import upgrade as run_upgrade
    from patients import crypto

    try:
        cfg = Config.from_env()
        crypto.install(crypto.keyring_for(cfg.data_keys, cfg.instance_path))
        engine = make_engine(cfg.database_url)
        if upgrade:
            run_upgrade(engine)
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    except (ConfigError, crypto.KeyError_) as exc:
        raise CliError(str(exc)) from None
    except OperationalError as exc:
        raise CliError(f"database unreachable or not migrated ({exc.orig}); run `escort db upgrade`") from None


@click.group()
def main() -> None:
    """Escort Dispatch: live tracking and safety alerts for medical escort transport."""


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations to DATABASE_URL."""
    with _session(upgrade=True):
        pass
    click.echo("database is up to date")


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("name")
@click.option("--role", required=True, help="admin, dispatcher, escort or coordinator")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_create(name: str, role: str, password_stdin: bool) -> None:
    """Create a user with a role."""
    from app.auth import AuthError, create_user
    from app.db import utcnow

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password is None and role != "escort" and sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    with _session() as session:
        try:
            user = create_user(session, name, role, password, now=utcnow())
        except AuthError as exc:
            raise CliError(str(exc)) from None
    click.echo(f"created {user.role} {user.username}")


@users.command("set-pins")
@click.argument("name")
def users_set_pins(name: str) -> None:
    """Read the escort's safe PIN, then the duress PIN, one per line on stdin."""
    from app.auth import AuthError, find_user
    from dispatch.safety import SafetyError, check_new_pins, set_pins

    safe = sys.stdin.readline().strip()
    duress = sys.stdin.readline().strip()
    try:
        check_new_pins(safe, duress)
    except SafetyError as exc:
        raise CliError(str(exc)) from None
    with _session() as session:
        try:
            user = find_user(session, name)
        except AuthError as exc:
            raise CliError(str(exc)) from None
        if user.role != "escort":
            raise CliError(f"{name!r} is not an escort")
        set_pins(user, safe, duress)
        session.add(user)
    click.echo(f"PINs set for {name}")


@users.command("set-contact")
@click.argument("name")
@click.option("--email", default=None, help="the user's own e-mail (dispatchers: escalations reach them here)")
@click.option("--emergency-name", default=None, help="an escort's emergency contact: name")
@click.option("--emergency-email", default=None, help="…e-mail (the last step of an escalation)")
@click.option("--emergency-phone", default=None, help="…phone")
def users_set_contact(name: str, email: str | None, emergency_name: str | None, emergency_email: str | None,
                      emergency_phone: str | None) -> None:
    """Set a user's e-mail and, for an escort, their emergency contact."""
    from app.auth import AuthError, find_user

    for label, value in (("--email", email), ("--emergency-email", emergency_email)):
        if value is not None and (value.count("@") != 1 or "." not in value.split("@")[1] or len(value) > 200):
            raise CliError(f"{label} {value!r} is not an e-mail address")
    with _session() as session:
        try:
            user = find_user(session, name)
        except AuthError as exc:
            raise CliError(str(exc)) from None
        if user.role != "escort" and (emergency_name or emergency_email or emergency_phone):
            raise CliError("only escorts have an emergency contact here")
        for field, value in (("email", email), ("emergency_contact_name", emergency_name),
                             ("emergency_contact_email", emergency_email),
                             ("emergency_contact_phone", emergency_phone)):
            if value is not None:
                setattr(user, field, value.strip() or None)
        session.add(user)
    click.echo(f"contact details set for {name}")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Print a new API token for user NAME (shown once; stored hashed)."""
    from app.auth import AuthError, create_api_token, find_user
    from app.db import utcnow

    with _session() as session:
        try:
            token = create_api_token(session, find_user(session, name), now=utcnow())
        except AuthError as exc:
            raise CliError(str(exc)) from None
    click.echo(token)


@main.group()
def devices() -> None:
    """Manage tracking devices."""


@devices.command("create")
@click.argument("label")
@click.option("--escort", "escort_name", default=None, help="the escort who carries it")
def devices_create(label: str, escort_name: str | None) -> None:
    """Register a device and print its token once (stored hashed)."""
    from app.auth import AuthError, find_user
    from app.db import utcnow
    from tracking.devices import DeviceError, create_device

    with _session() as session:
        try:
            escort = find_user(session, escort_name) if escort_name else None
            device, token = create_device(session, label, escort, now=utcnow())
        except (AuthError, DeviceError) as exc:
            raise CliError(str(exc)) from None
    click.echo(f"device {device.id} {device.label}", err=True)
    click.echo(token)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Run the server on the configured database (gunicorn, gevent, one worker)."""
    try:
        Config.from_env().require_secret()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1",
                               "-b", f"{host}:{port}", *GUNICORN_SAFE_LOGGING, "app:create_app()"])


@main.command()
@click.option("--url", required=True, help="the server, e.g. http://127.0.0.1:5000")
@click.option("--devices", "count", default=3, show_default=True, type=click.IntRange(1, 10000))
@click.option("--duration", default=300.0, show_default=True, type=click.FloatRange(1, 86400), help="seconds")
@click.option("--rate", default=1.0, show_default=True, type=click.FloatRange(0.01, 50), help="fixes per second")
@click.option("--token", "tokens_", multiple=True, help="device tokens to use (default: register new ones)")
def simulate(url: str, count: int, duration: float, rate: float, tokens_: tuple[str, ...]) -> None:
    """Stream simulated escorts to a server over Socket.IO (for demos and load)."""
    from app import simclient

    tokens_list = list(tokens_) or _register_sim_devices(count)
    drivers = simclient.synthetic_drivers(tokens_list[:count], duration_s=duration, rate_hz=rate)
    stats = simclient.run(url, drivers, duration_s=duration, progress=click.echo)
    click.echo(f"sent {stats.sent}, acked {stats.acked}, rejected {stats.rejected}, "
               f"queued {stats.queued}, {stats.fixes_per_s:.0f} fixes/s")


def _register_sim_devices(count: int) -> list[str]:
    """Register ``count`` simulator devices on the configured database; return their tokens."""
    import secrets

    from app.db import utcnow
    from tracking.devices import create_device

    run_id = secrets.token_hex(3)
    with _session() as session:
        return [create_device(session, f"sim-{run_id}-{i + 1}", None, now=utcnow())[1] for i in range(count)]


@main.group()
def keys() -> None:
    """The keys that seal patient sheets at rest (ESCORT_DATA_KEYS)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new data key: put it first in ESCORT_DATA_KEYS, then run `escort keys rotate`."""
    from patients.crypto import generate_key

    click.echo(generate_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-seal every patient sheet with the first key of ESCORT_DATA_KEYS."""
    from sqlalchemy import text

    from patients import crypto

    with _session() as session:
        keyring = crypto.current()
        rows = session.execute(text("SELECT id, contacts, medications, details FROM patient ORDER BY id")).all()
        changed = 0
        for done, (pid, *sealed) in enumerate(rows, 1):
            fresh = [keyring.reseal(v) if v is not None else None for v in sealed]
            if fresh != list(sealed):
                session.execute(text("UPDATE patient SET contacts = :c, medications = :m, details = :d WHERE id = :id"),
                                {"c": fresh[0], "m": fresh[1], "d": fresh[2], "id": pid})
                changed += 1
            if done % 500 == 0:
                session.commit()
                click.echo(f"rotate: {done}/{len(rows)} sheets")
        others = crypto.reseal_others(session, keyring)
        from app.audit import record

        record(session, None, "keys_rotate", detail={"sheets": len(rows), "keys": keyring.count, **others})
    click.echo(f"re-sealed {changed} of {len(rows)} patient sheets with the first key, and "
               f"{others['contacts']} escorts' emergency contacts and {others['details']} alert and trip event details; "
               "the older keys can now be removed from ESCORT_DATA_KEYS")


@main.command()
@click.option("--older-than", "days", default=90, show_default=True, type=click.IntRange(1, 36500),
              help="delete raw fixes received more than this many days ago")
def purge(days: int) -> None:
    """Delete raw fixes older than DAYS; trips, alerts and the audit log stay."""
    from app.db import utcnow
    from tracking.retention import purge_fixes

    with _session() as session:
        deleted = purge_fixes(session, older_than_days=days, now=utcnow(), progress=click.echo)
    click.echo(f"deleted {deleted} fixes older than {days} days")


@main.command()
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--speedup", default=1.0, show_default=True, type=click.FloatRange(1, 100))
@click.option("--no-simulator", is_flag=True, help="serve the demo data without moving escorts")
def demo(port: int, speedup: float, no_simulator: bool) -> None:
    """Seed a demo database, serve it on 127.0.0.1, and drive three escorts."""
    from app.demo import run_demo

    try:
        run_demo(port=port, speedup=speedup, simulator=not no_simulator, echo=click.echo)
    except ConfigError as exc:
        raise CliError(str(exc)) from None


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True, path_type=Path))
def evaluate(paths: tuple[Path, ...]) -> None:
    """Replay recorded traces (GPX, CSV) in scenarios through the ingest pipeline; one row each."""
    from app.evaluate import evaluate as run_evaluation
    from tracking.traces import TraceError

    files = sorted(p for path in paths for p in ([path] if path.is_file() else path.iterdir())
                   if p.suffix.lower() in (".gpx", ".csv"))
    if not files:
        raise CliError("no .gpx or .csv traces found")
    try:
        rows = run_evaluation(files, echo=click.echo)
    except TraceError as exc:
        raise CliError(str(exc)) from None
    failed = [r for r in rows if not r.ok]
    click.echo(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise SystemExit(1)
