"""One configuration, read from the environment, with documented defaults."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
# gunicorn's access log line (off unless --access-logfile is given, e.g. in GUNICORN_CMD_ARGS):
# the request as method, path and protocol, never the query string, where trackers put their token.
GUNICORN_ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'
# With a logger class that masks a responder's live-link token in the path (/live/[token]), from a
# configuration file gunicorn reads by path, so that its master never imports the app before gevent patches.
GUNICORN_CONF = Path(__file__).resolve().with_name("gunicorn_conf.py")
GUNICORN_SAFE_LOGGING = ("--access-logformat", GUNICORN_ACCESS_FORMAT, "-c", str(GUNICORN_CONF))
ASYNC_MODES = ("gevent", "threading")
# A number a tel: link can dial: what a person writes, without letters or other marks.
PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{1,24}")


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and what to do."""


@dataclass(frozen=True)
class Config:
    """Everything the app reads from outside; build with ``Config.from_env()``."""

    database_url: str = ""
    redis_url: str | None = None
    # The Redis pub/sub channel of this deployment (Redis channels ignore the db number).
    redis_channel: str = "flask-socketio"
    secret_key: str | None = None
    async_mode: str = "gevent"
    instance_path: Path = Path("instance")
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "© OpenStreetMap contributors"
    # How often the /dispatch fan-out sends a batch of positions, at most.
    positions_interval_s: float = 0.1
    # Fixes dated later than now + this are refused (device clocks drift a little).
    max_future_skew_s: float = 120.0
    # Fixes older than this are refused as absurd (a dead RTC reports 1970 or 2000).
    max_fix_age_s: float = 7 * 24 * 3600.0
    session_cookie_secure: bool = False
    # The scheduler's sweep (lost signal, missed check-ins, escalation); 0 turns it off.
    sweep_interval_s: float = 5.0
    webhook_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "escort-dispatch@localhost"
    supervisor_email: str | None = None
    # Medication times of day are local times in this zone; everything else is UTC.
    timezone: str = "UTC"
    # Fernet keys sealing patient sheets, newest first (app/crypto.py); unset: instance/data_keys.
    data_keys: str | None = None
    # Staff pages log out after this long without a request (escorts' tablets never do: the
    # panic button must keep working on a long trip). 0 turns it off.
    idle_logout_s: float = 30 * 60.0
    # How many reverse proxies (nginx) stand in front: their X-Forwarded-For and -Proto are
    # trusted that many hops deep, so the audit log records the real client address.
    proxy_count: int = 0
    # Requests with a larger body are refused (413) before it is read: enough for a GPX route
    # upload or a batch of 1,000 fixes, far below what would hold a worker for seconds.
    max_body_bytes: int = 4 * 1024 * 1024
    # Who may read /metrics: a request with ``Authorization: Bearer <token>``; unset: loopback only.
    metrics_token: str | None = None
    # Strict-Transport-Security max-age in seconds, sent only when set (the site is served over HTTPS).
    hsts_s: float = 0.0
    # A Nominatim-compatible geocoder (places/); unset: the embedded address index.
    geocoder_url: str | None = None
    # An OSRM, Valhalla or GraphHopper router (places/); unset: the embedded router.
    router_url: str | None = None
    # The tablet's "call dispatch" number (a tel: link); unset: the button is not shown.
    dispatch_phone: str | None = None
    # The local emergency number the tablet offers beside "call dispatch" (112 works across the
    # EU and on GSM phones almost everywhere); set it empty to hide the link.
    emergency_number: str | None = "112"
    # How long a responder's live-location link stays open (minutes, 15–720); it always ends
    # when its alert is resolved.
    responder_link_minutes: int = 60
    # The server's public base URL (https://dispatch.example.org): live links in escalation
    # messages are built on it; unset, the messages carry no link (never guessed from a request).
    public_url: str | None = None
    testing: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Config":
        """Read the configuration from ``env`` (default ``os.environ``)."""
        env = dict(os.environ if env is None else env)
        instance = Path(env.get("ESCORT_INSTANCE_PATH", "instance")).resolve()
        cfg = cls(
            database_url=env.get("DATABASE_URL") or f"sqlite:///{instance / 'escort.db'}",
            redis_url=env.get("REDIS_URL") or None,
            redis_channel=env.get("ESCORT_REDIS_CHANNEL") or "flask-socketio",
            secret_key=env.get("SECRET_KEY") or None,
            async_mode=env.get("ESCORT_ASYNC_MODE", "gevent"),
            instance_path=instance,
            tile_url=env.get("ESCORT_TILE_URL", cls.tile_url),
            tile_attribution=env.get("ESCORT_TILE_ATTRIBUTION", cls.tile_attribution),
            session_cookie_secure=env.get("ESCORT_SECURE_COOKIES", "0") in ("1", "true", "yes"),
            sweep_interval_s=_seconds(env, "ESCORT_SWEEP_INTERVAL_S", 5.0),
            positions_interval_s=_positive_seconds(env, "ESCORT_POSITIONS_INTERVAL_S", 0.1),
            webhook_url=env.get("ESCORT_WEBHOOK_URL") or None,
            smtp_url=env.get("ESCORT_SMTP_URL") or None,
            mail_from=env.get("ESCORT_MAIL_FROM", cls.mail_from),
            supervisor_email=env.get("ESCORT_SUPERVISOR_EMAIL") or None,
            timezone=env.get("ESCORT_TIMEZONE", "UTC"),
            data_keys=env.get("ESCORT_DATA_KEYS") or None,
            idle_logout_s=_seconds(env, "ESCORT_IDLE_LOGOUT_S", 30 * 60.0),
            proxy_count=int(_seconds(env, "ESCORT_PROXY_COUNT", 0)),
            max_body_bytes=_byte_count(env, "ESCORT_MAX_BODY_BYTES", cls.max_body_bytes),
            metrics_token=env.get("ESCORT_METRICS_TOKEN") or None,
            hsts_s=_seconds(env, "ESCORT_HSTS_S", 0.0),
            geocoder_url=env.get("ESCORT_GEOCODER_URL") or None,
            router_url=env.get("ESCORT_ROUTER_URL") or None,
            dispatch_phone=env.get("ESCORT_DISPATCH_PHONE") or None,
            emergency_number=env.get("ESCORT_EMERGENCY_NUMBER", cls.emergency_number).strip() or None,
            responder_link_minutes=_minutes_between(env, "ESCORT_RESPONDER_LINK_MINUTES", 60, 15, 720),
            public_url=(env.get("ESCORT_PUBLIC_URL") or "").strip().rstrip("/") or None,
        )
        cfg = replace(cfg, **overrides) if overrides else cfg
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Raise ConfigError with a clear message for a setting that cannot work."""
        if self.async_mode not in ASYNC_MODES:
            raise ConfigError(
                f"ESCORT_ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, not {self.async_mode!r}"
            )
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except (ValueError, KeyError, OSError):
            raise ConfigError(f"ESCORT_TIMEZONE {self.timezone!r} is not a known time zone (e.g. Europe/London)") from None
        for name, number in (("ESCORT_DISPATCH_PHONE", self.dispatch_phone),
                             ("ESCORT_EMERGENCY_NUMBER", self.emergency_number)):
            if number is not None and not PHONE.fullmatch(number):
                raise ConfigError(f"{name} must be a phone number (digits, spaces, + - ( ) only), not {number!r}")
        if not 15 <= self.responder_link_minutes <= 720:
            raise ConfigError("ESCORT_RESPONDER_LINK_MINUTES must be a whole number of minutes from 15 to 720, "
                              f"not {self.responder_link_minutes!r}")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ConfigError("ESCORT_PUBLIC_URL must be the server's public base URL, "
                                  f"e.g. https://dispatch.example.org, not {self.public_url!r}")
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ConfigError(
                "DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL, "
                f"not {self.database_url.split(':', 1)[0]!r}"
            )

    def require_secret(self) -> str:
        """Return SECRET_KEY or raise: the served app never runs on a made-up secret."""
        if not self.secret_key or len(self.secret_key) < 16:
            raise ConfigError(
                "SECRET_KEY is not set (or shorter than 16 characters); "
                "set it in the environment, e.g. SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        return self.secret_key


def _positive_seconds(env: dict[str, str], name: str, default: float) -> float:
    """Read a number of seconds above zero, or fail with the variable's name."""
    value = _seconds(env, name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds")
    return value


def _minutes_between(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    """Read a whole number of minutes from ``low`` to ``high``, or fail with the variable's name."""
    raw = (env.get(name) or "").strip()
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number of minutes from {low} to {high}, not {raw!r}")
    return int(raw)


def _byte_count(env: dict[str, str], name: str, default: int) -> int:
    """Read a whole number of bytes of at least 64 KiB, or fail with the variable's name."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 65536:
        raise ConfigError(f"{name} must be a whole number of bytes, at least 65536, not {raw!r}")
    return int(raw)


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    """Read a non-negative number of seconds, or fail with the variable's name."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def make_private_dir(path: Path) -> None:
    """Create a folder only its owner may enter (0700); a folder that exists is left as it is."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        return
    path.chmod(0o700)  # mkdir's mode passes through the umask; say it exactly


def read_or_create_private(path: Path, make: Callable[[], str]) -> str:
    """Return the file's text, creating it with ``make()`` as mode 0600 from its first byte.

    O_CREAT|O_EXCL with the mode: no moment exists where another user could open the file,
    and of two processes starting at once exactly one writes it.
    """
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text()
    with os.fdopen(fd, "w") as out:
        out.write(make())
    return path.read_text()


def instance_secret(instance_path: Path) -> str:
    """Return the demo's secret key, generating it into the instance folder once."""
    return read_or_create_private(instance_path / "secret_key", lambda: secrets.token_hex(32)).strip()

