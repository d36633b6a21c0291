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

from app import crypto, logs
from app.config import GUNICORN_SAFE_LOGGING, Config, ConfigError


class CliError(click.ClickException):
    """A one-line error and exit status 1."""


class CliUsageError(CliError):
    """A one-line error about the command's words (an unknown option, a value out of range): exit 2."""

    exit_code = 2


@contextmanager
def _session(upgrade: bool = False) -> Iterator[Session]:
    """Open a session on the configured database; commit when the block ends without an error."""
    from app.db import make_engine
    from app.db import upgrade as run_upgrade

    engine = None
    try:
        cfg = Config.from_env()
        crypto.install(crypto.keyring_for(cfg.data_keys, cfg.instance_path))
        engine = make_engine(cfg.database_url)
        if upgrade:
            run_upgrade(engine)
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    finally:  # errors become one line in OneLineErrors
        if engine is not None:
            engine.dispose()  # close the pool's connections now, not at garbage collection


class OneLineErrors(click.Group):
    """The command group: an unexpected failure is one line on stderr and exit 1, never a traceback.

    A traceback can quote the data it failed on (a patient's row, say), so it is not printed;
    the logs record only exception types (``app.logs``).
    """

    def invoke(self, ctx: click.Context):
        """Run the command; turn an unexpected exception into a one-line error."""
        logs.install()
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # one line too, with where to read more
            where = exc.ctx.command_path if exc.ctx else "escort"
            raise CliUsageError(f"{exc.format_message()} (see `{where} --help`)") from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except (ConfigError, crypto.KeyError_) as exc:
            raise CliError(str(exc)) from None
        except OperationalError as exc:
            raise CliError(f"database unreachable or not migrated ({_first_line(exc.orig)}); "
                           "run `escort db upgrade`") from None
        except Exception as exc:  # noqa: BLE001  (the one place every command's failure is turned into a line)
            raise CliError(f"failed: {logs.one_line(exc)}") from None


def _first_line(exc: BaseException | None) -> str:
    """Return the first line of an error message: drivers put the rows they failed on below it."""
    return str(exc).strip().splitlines()[0][:200] if exc is not None and str(exc).strip() else type(exc).__name__


@click.group(cls=OneLineErrors)
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
    """Read the escort's safe PIN, then the duress PIN, then optionally a code phrase, one per line on stdin."""
    from app.auth import AuthError, find_user
    from dispatch.codeword import CodePhraseError, check_new
    from dispatch.line import QUICK_REPLIES, set_code_phrase
    from dispatch.safety import SafetyError, check_new_pins, set_escort_pins

    safe = sys.stdin.readline().strip()
    duress = sys.stdin.readline().strip()
    phrase = sys.stdin.readline().strip() or None
    try:
        check_new_pins(safe, duress)
        if phrase is not None:
            check_new(phrase, QUICK_REPLIES)
    except (SafetyError, CodePhraseError) as exc:
        raise CliError(str(exc)) from None
    with _session() as session:
        try:
            user = find_user(session, name)
        except AuthError as exc:
            raise CliError(str(exc)) from None
        try:
            set_escort_pins(session, user, safe, duress, by=None, via="cli")
            if phrase is not None:
                set_code_phrase(session, user, phrase, by=None, via="cli")
        except (SafetyError, CodePhraseError) as exc:
            raise CliError(str(exc)) from None
    click.echo(f"PINs {'and code phrase ' if phrase else ''}set for {name}")


@users.command("set-contact")
@click.argument("name")
@click.option("--email", default=None, help="the user's own e-mail (dispatchers: escalations reach them here)")
@click.option("--emergency-name", default=None, help="an escort's emergency contact: name")
@click.option("--emergency-email", default=None, help="…e-mail (the last step of an escalation)")
@click.option("--emergency-phone", default=None, help="…phone")
@click.option("--phone", default=None, help="an escort's own phone (escalations tell responders to call it)")
def users_set_contact(name: str, email: str | None, emergency_name: str | None, emergency_email: str | None,
                      emergency_phone: str | None, phone: str | None) -> None:
    """Set a user's e-mail and, for an escort, their emergency contact."""
    from app import accounts
    from app.auth import AuthError, find_user

    changes = {"email": email, "emergency_contact_name": emergency_name,
               "emergency_contact_email": emergency_email, "emergency_contact_phone": emergency_phone, "phone": phone}
    with _session() as session:
        try:
            accounts.set_contact(session, find_user(session, name), changes, by=None, via="cli")
        except AuthError as exc:
            raise CliError(str(exc)) from None
    click.echo(f"contact details set for {name}")


def _stdin_password() -> str:
    """Read one password line from standard input."""
    return sys.stdin.readline().rstrip("\n")


def _when(value) -> str:
    """Format a time for a listing: ISO-8601 UTC, or a dash."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


def _user_action(name: str, act) -> None:
    """Run one audited action on user NAME; one line on failure."""
    from app.auth import AuthError, find_user
    from app.db import utcnow

    with _session() as session:
        try:
            act(session, find_user(session, name), utcnow())
        except AuthError as exc:
            raise CliError(str(exc)) from None


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Disable a user: their logins, sessions and API tokens stop working at once."""
    from app import accounts

    _user_action(name, lambda s, u, now: accounts.disable_user(s, u, now=now, by=None, via="cli"))
    click.echo(f"disabled {name}; their sessions are ended (open sockets close within the sweep interval)")


@users.command("enable")
@click.argument("name")
def users_enable(name: str) -> None:
    """Enable a disabled (or locked) user again."""
    from app import accounts

    _user_action(name, lambda s, u, now: accounts.enable_user(s, u, now=now, by=None, via="cli"))
    click.echo(f"enabled {name}")


@users.command("reset-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the new password from standard input (required)")
def users_reset_password(name: str, password_stdin: bool) -> None:
    """Set a new password read from stdin; ends the user's sessions and lifts a lockout."""
    from app import accounts

    if not password_stdin:
        raise CliError("pass --password-stdin and the new password on standard input (it never goes on a command line)")
    password = _stdin_password()
    _user_action(name, lambda s, u, now: accounts.reset_password(s, u, password, now=now, by=None, via="cli"))
    click.echo(f"password reset for {name}; their sessions are ended")


@main.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("name")
@click.option("--expires-days", default=None, help="refuse the token after N days (1 to 3650)")
def tokens_create(name: str, expires_days: str | None) -> None:
    """Print a new API token for user NAME (shown once; stored hashed)."""
    from app.audit import record
    from app.auth import AuthError, create_api_token, find_user
    from app.db import utcnow

    if expires_days is not None:
        if not (expires_days.isascii() and expires_days.isdigit() and 1 <= int(expires_days) <= 3650):
            raise CliError(f"--expires-days must be a whole number of days from 1 to 3650, not {expires_days!r}")
        expires_days = int(expires_days)
    with _session() as session:
        try:
            user = find_user(session, name)
            token = create_api_token(session, user, now=utcnow(), expires_days=expires_days)
        except AuthError as exc:
            raise CliError(str(exc)) from None
        record(session, None, "token_create", object_type="user", object_id=user.id,
               detail={"username": user.username, "expires_days": expires_days, "via": "cli"})
    click.echo(token)


@tokens.command("list")
@click.argument("name", required=False)
def tokens_list(name: str | None) -> None:
    """List API tokens (id, user, created, last used, expires, revoked), of one user or all."""
    from app import accounts
    from app.auth import AuthError, find_user

    with _session() as session:
        try:
            if name is not None:
                find_user(session, name)
        except AuthError as exc:
            raise CliError(str(exc)) from None
        rows = accounts.list_tokens(session, name)
    click.echo("id\tuser\tcreated\tlast_used\texpires\trevoked")
    for t in rows:
        click.echo(f"{t['id']}\t{t['user']}\t{_when(t['created_at'])}\t{_when(t['last_used_at'])}\t"
                   f"{_when(t['expires_at'])}\t{_when(t['revoked_at'])}")


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
def tokens_revoke(token_id: str) -> None:
    """Revoke API token ID (see `escort tokens list`): refused at once, its sockets dropped by the sweep."""
    from app import accounts
    from app.auth import AuthError
    from app.db import MAX_ROW_ID, utcnow

    if not (token_id.isascii() and token_id.isdigit()) or not 0 < int(token_id) <= MAX_ROW_ID:
        raise CliError(f"ID must be a token id from `escort tokens list`, not {token_id!r}")
    with _session() as session:
        try:
            accounts.revoke_token(session, int(token_id), now=utcnow(), by=None, via="cli")
        except AuthError as exc:
            raise CliError(str(exc)) from None
    click.echo(f"revoked API token {token_id}")


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


@devices.command("list")
def devices_list() -> None:
    """List devices (id, label, escort, last seen, revoked)."""
    from tracking.devices import list_devices

    with _session() as session:
        rows = list_devices(session)
    click.echo("id\tlabel\tescort\tlast_seen\trevoked")
    for d in rows:
        click.echo(f"{d['id']}\t{d['label']}\t{d['escort'] or '-'}\t{_when(d['last_seen_at'])}\t"
                   f"{_when(d['revoked_at'])}")


@devices.command("revoke")
@click.argument("label")
def devices_revoke(label: str) -> None:
    """Revoke device LABEL's token: refused on every entry, its sockets dropped by the sweep."""
    from app.db import utcnow
    from tracking.devices import DeviceError, find_device, revoke_device

    with _session() as session:
        try:
            revoke_device(session, find_device(session, label=label), now=utcnow(), by=None, via="cli")
        except DeviceError as exc:
            raise CliError(str(exc)) from None
    click.echo(f"revoked device {label}")


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
    click.echo(crypto.generate_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-seal every patient sheet with the first key of ESCORT_DATA_KEYS."""
    from sqlalchemy import text

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
    from dispatch.retention import purge_fixes

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


@main.group("standing-orders")
def standing_orders() -> None:
    """Standing orders: repeating trips made ahead."""


@standing_orders.command("top-up")
def standing_top_up() -> None:
    """Make the trips every active standing order lacks up to its horizon (the sweep does this too)."""
    from app.db import utcnow
    from dispatch import standing

    with _session() as session:
        made = standing.top_up(session, now=utcnow())
    click.echo(f"made {len(made)} trips (standing orders are filled {standing.HORIZON_DAYS} days ahead)")
