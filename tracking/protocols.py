"""Decode the OsmAnd (Traccar Client) and OwnTracks wire formats into our Fix values (pure, no I/O)."""

# Decisions, each tested in tests/tracking/test_protocols.py:
#
# * Malformed is refused, implausible is dropped. A field we read that is not a number (or
#   not finite) raises ProtocolError naming the field, as do a missing device id and
#   lat/lon out of range. An auxiliary value that is a number but physically absurd
#   (accuracy over 100 km, speed over 1000 m/s, altitude outside -1 km..100 km) becomes
#   None and the position is kept. The clients' "unknown" sentinels (-1, and 0 for accuracy,
#   which Android reports when it has none) become None too; battery over 100 is clamped.
# * Units by app: the query cannot tell one app from another, so the URL says which app
#   filled it in (``app=``; see QueryDialect). Without it the query is the Traccar Client's,
#   as Traccar's own server reads it: speed in knots. ``app=osmand`` is the OsmAnd app's
#   online tracking: speed in m/s, and its ``{3}`` slot (``hdop=`` in its default template) is
#   Android's accuracy in metres, not an HDOP. ``app=gpslogger`` is GPSLogger's custom URL:
#   speed in m/s, under its own names (%ALL's spd, acc, dir, alt, batt). An unknown app is
#   refused: guessing the units would store speeds off by half or double.
# * hdop: a real HDOP, sent alone, gives accuracy_m = hdop * 5 m (a user-range error of about
#   5 m is the usual rule of thumb); an explicit accuracy (or hacc) wins.
# * valid: as Traccar reads it, any value other than true/1 means the receiver has no fix.
#   Such a report keeps its device key and alarm but carries no position: our Fix has no
#   validity flag and the detectors must not act on a stale or guessed coordinate.
# * A panic is never lost to a bad position: when a request carries an alarm, a position
#   that fails to decode is dropped and the alarm kept (the device key is still required).
# * These protocols have no sequence numbers: seq is the fix time in epoch milliseconds, so
#   a client resending a report it had no answer for is stored once.
# * OwnTracks: only `location` carries a position. Other message types are accepted and
#   ignored (returning a Decoded without fixes, so the handler can always answer []),
#   except: a body that is not an object (or a list of objects) with a string _type; a
#   top-level lat/lon that is not a number on any message type (the schema types them for
#   every message, e.g. its transition-illegal-lat case); and `encrypted` payloads, which
#   we cannot read - silently dropping every position of a phone with a secret set would
#   be worse than telling its owner. A string tst is tolerated outside `location` because
#   real iPhones send it in `lwt`.

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationError,
)

from tracking.fix import Fix

KNOT_MPS = 1852 / 3600
KMH_MPS = 1 / 3.6
HDOP_TO_M = 5.0  # metres of horizontal error per unit of HDOP, when a tracker reports nothing better
MAX_POSITIONS = 1000
MAX_KEY_CHARS = 200
MAX_ALARM_CHARS = 100
MAX_ACCURACY_M = 100_000.0
MAX_SPEED_MPS = 1000.0
MIN_ALTITUDE_M, MAX_ALTITUDE_M = -1000.0, 100_000.0

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_EPOCH_S = 253_402_300_799  # 9999-12-31T23:59:59Z
# Epoch values at or above this are milliseconds: as seconds they would be past the year 5000,
# as milliseconds they are after 1973-03-03.
EPOCH_MS_FROM = 100_000_000_000

_EPOCH_TEXT = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,9})?", re.ASCII)
# ISO-8601 date and time, "T" or space between them; the zone may be Z, +hh, +hhmm or +hh:mm,
# and a "+" that arrived unencoded in a query string is a space by the time we see it.
_ISO_TEXT = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[T ](?P<hm>[0-9]{2}:[0-9]{2})"
    r"(?::(?P<s>[0-9]{2})(?:[.,](?P<frac>[0-9]{1,9}))?)?"
    r"\s*(?P<zone>Z|[+\- ][0-9]{2}(?::?[0-9]{2})?)?",
    re.ASCII | re.IGNORECASE,
)


class ProtocolError(ValueError):
    """A request no decoder can read; the message names the field and is safe to show the client."""


@dataclass(frozen=True)
class Decoded:
    """What one request said: the device key it names, its positions (maybe none), an alarm if any."""

    device_key: str | None
    fixes: list[Fix] = field(default_factory=list)
    alarm: str | None = None  # "sos" is a panic; any other alarm keeps the client's text

    @property
    def fix(self) -> Fix | None:
        """Return the newest position of the request, or None for a report without one."""
        return max(self.fixes, key=lambda f: f.ts) if self.fixes else None


# --- shared pieces ----------------------------------------------------------------------------

Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
JsonLat = Annotated[StrictFloat, Field(ge=-90, le=90)]
JsonLon = Annotated[StrictFloat, Field(ge=-180, le=180)]
JsonNumber = StrictFloat | None  # a JSON number (int or float), never a bool or a numeric string


def _error(exc: ValidationError, prefix: str = "", names: Mapping[str, str] | None = None) -> ProtocolError:
    """Turn pydantic's first error into one line naming the field as the client spelt it."""
    err = exc.errors(include_url=False)[0]
    loc = [str(part) for part in err["loc"]]
    if loc and names:
        loc[0] = names.get(loc[0], loc[0])
    where = prefix + ".".join(loc) if loc else prefix.rstrip(".") or "body"
    message = f"{where}: {err['msg'][0].lower()}{err['msg'][1:]}"
    if err["type"] != "missing":
        message += f" (got {_short(err.get('input'))})"
    return ProtocolError(message)


def _short(value: Any) -> str:
    """Return a value's repr cut to a length fit for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_time(raw: Any, *, now: datetime, name: str = "timestamp") -> datetime:
    """Return a UTC time from epoch s or ms, ISO-8601 or ``yyyy-MM-dd HH:mm:ss`` (UTC); ``now`` if absent."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if raw is None or raw == "":
        return now.astimezone(timezone.utc)
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise ProtocolError(f"{name} must be epoch seconds, epoch milliseconds or ISO-8601 (got {_short(raw)})")
    if isinstance(raw, (int, float)):
        return _from_epoch(raw, name)
    text = raw.strip()
    if _EPOCH_TEXT.fullmatch(text):
        return _from_epoch(float(text) if "." in text else int(text), name)
    iso = _ISO_TEXT.fullmatch(text)
    if iso is None:
        raise ProtocolError(f"{name} must be epoch seconds, epoch milliseconds or ISO-8601 (got {_short(raw)})")
    frac = ((iso["frac"] or "") + "000000")[:6]
    zone = (iso["zone"] or "+00:00").upper().replace(" ", "+")
    if zone == "Z":
        zone = "+00:00"
    elif len(zone) in (3, 5):  # +hh or +hhmm
        zone = f"{zone[:3]}:{zone[3:] or '00'}"
    try:
        parsed = datetime.fromisoformat(f"{iso['date']}T{iso['hm']}:{iso['s'] or '00'}.{frac}{zone}")
        utc = parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ProtocolError(f"{name} is not a real date and time (got {_short(raw)})") from None
    if utc < EPOCH:
        raise ProtocolError(f"{name} is before 1970 (got {_short(raw)})")
    return utc


def _from_epoch(value: float, name: str) -> datetime:
    """Return the UTC time of epoch seconds, or of milliseconds when the value is that large."""
    if not 0 <= value < float("inf"):
        raise ProtocolError(f"{name} must be a non-negative finite epoch time (got {_short(value)})")
    if value >= EPOCH_MS_FROM:
        if value / 1000 > MAX_EPOCH_S:
            raise ProtocolError(f"{name} is out of range (got {_short(value)})")
        return EPOCH + (timedelta(milliseconds=value) if isinstance(value, int) else timedelta(seconds=value / 1000))
    return EPOCH + timedelta(seconds=value)


def _seq(ts: datetime) -> int:
    """Return the fix time in epoch milliseconds: these protocols have no sequence numbers."""
    return (ts - EPOCH) // timedelta(milliseconds=1)


def _within(value: float | None, lo: float, hi: float) -> float | None:
    """Return the value when it lies within [lo, hi], else None (an implausible reading)."""
    return value if value is not None and lo <= value <= hi else None


def _fix(lat: float, lon: float, ts: datetime, *, accuracy_m: float | None = None, speed_mps: float | None = None,
         heading_deg: float | None = None, altitude_m: float | None = None,
         battery_pct: float | None = None, mock: bool = False) -> Fix:
    """Build a Fix, turning unknown sentinels and implausible auxiliary readings into None."""
    return Fix(
        lat=lat, lon=lon, ts=ts, seq=_seq(ts),
        accuracy_m=_within(accuracy_m, 1e-9, MAX_ACCURACY_M),  # 0 and -1 mean "not known"
        speed_mps=_within(speed_mps, 0.0, MAX_SPEED_MPS),
        heading_deg=heading_deg % 360.0 if heading_deg is not None and heading_deg >= 0 else None,
        altitude_m=_within(altitude_m, MIN_ALTITUDE_M, MAX_ALTITUDE_M),
        battery_pct=min(battery_pct, 100.0) if battery_pct is not None and battery_pct >= 0 else None,
        mock=mock,
    )


def _alarm(raw: Any) -> str | None:
    """Return "sos" for a panic, another alarm's own text, or None."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    return "sos" if text.lower() == "sos" else text[:MAX_ALARM_CHARS]


def _device_key(raw: Any, name: str) -> str:
    """Return a device key that is a non-empty string of sane length."""
    if not isinstance(raw, str) or not raw.strip():
        raise ProtocolError(f"{name} (the device token) is required")
    if len(raw) > MAX_KEY_CHARS:
        raise ProtocolError(f"{name} is longer than {MAX_KEY_CHARS} characters")
    return raw.strip()


# --- OsmAnd query form ------------------------------------------------------------------------

class _QueryNumbers(BaseModel):
    """The numeric parameters of an OsmAnd query, still in the protocol's units."""

    model_config = ConfigDict(allow_inf_nan=False, frozen=True)

    lat: Lat
    lon: Lon
    speed: float | None = None  # in the dialect's unit
    bearing: float | None = None
    accuracy: float | None = None
    hdop: float | None = None
    altitude: float | None = None
    batt: float | None = None  # percent


@dataclass(frozen=True)
class QueryDialect:
    """How one app fills in the OsmAnd query: the names it gives each value and their units."""

    speed_mps: float  # metres per second in one unit of its ``speed``
    hdop_m: float  # metres of accuracy per unit of its ``hdop``
    names: Mapping[str, tuple[str, ...]]  # canonical name -> the app's names, first wins
    unfilled: re.Pattern | None = None  # a placeholder the app left as it was: absent, not malformed


_TRACCAR_NAMES = {"speed": ("speed",), "bearing": ("bearing", "heading"), "accuracy": ("accuracy", "hacc"),
                  "hdop": ("hdop",), "altitude": ("altitude",), "batt": ("batt",), "timestamp": ("timestamp",)}

TRACCAR_CLIENT = QueryDialect(speed_mps=KNOT_MPS, hdop_m=HDOP_TO_M, names=_TRACCAR_NAMES)
# OsmAnd's online tracking fills {3} with Location.getAccuracy() (metres) and {5} with
# getSpeed() (m/s); {2} is epoch milliseconds. A {n} this OsmAnd version does not know (older
# ones stop at {6}) is sent as it was typed.
OSMAND_APP = QueryDialect(speed_mps=1.0, hdop_m=1.0, names={**_TRACCAR_NAMES, "batt": ("batt", "batproc")},
                          unfilled=re.compile(r"\{[0-9]+\}"))
# GPSLogger's custom URL: %SPD m/s, %ACC m, %HDOP a real HDOP, %TIMESTAMP epoch s, %TIME ISO.
GPSLOGGER = QueryDialect(speed_mps=1.0, hdop_m=HDOP_TO_M, names={
    "speed": ("spd", "speed"), "bearing": ("dir", "bearing", "heading"), "accuracy": ("acc", "accuracy"),
    "hdop": ("hdop",), "altitude": ("alt", "altitude"), "batt": ("batt", "battery"),
    "timestamp": ("timestamp", "time")})
QUERY_DIALECTS = {"traccar": TRACCAR_CLIENT, "osmand": OSMAND_APP, "gpslogger": GPSLOGGER}


def query_dialect(params: Mapping[str, Any]) -> QueryDialect:
    """Return the dialect the query's ``app`` names (the Traccar Client's when it names none)."""
    name = (_param(params, "app") or "traccar").lower()
    if name not in QUERY_DIALECTS:
        raise ProtocolError(f"app must be one of {', '.join(QUERY_DIALECTS)} (got {_short(name)})")
    return QUERY_DIALECTS[name]


def _param(params: Any, name: str) -> str | None:
    """Return a query parameter's first value, stripped, or None when absent or empty."""
    value = params.get(name)
    if isinstance(value, (list, tuple)):  # a parse_qs-style dict of lists
        value = value[0] if value else None
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value).strip()
    return text or None


def decode_osmand_query(params: Mapping[str, Any], *, now: datetime) -> Decoded:
    """Decode the OsmAnd query form (GET or POST parameters) in the units of the app it names."""
    key_name = "id" if _param(params, "id") else "deviceid"
    key = _device_key(_param(params, key_name), "id")
    dialect = query_dialect(params)
    alarm = _alarm(_param(params, "alarm"))
    try:
        fix = _query_fix(params, dialect, now=now)
    except ProtocolError:
        if alarm is None:
            raise
        fix = None  # never lose a panic to a bad position
    return Decoded(key, [fix] if fix is not None else [], alarm)


def _query_fix(params: Any, dialect: QueryDialect, *, now: datetime) -> Fix | None:
    """Return the query's position, or None for a network-only or no-fix (valid=false) report."""
    names = {"lat": "lat", "lon": "lon"}
    lat, lon = _param(params, "lat"), _param(params, "lon")
    location = _param(params, "location")
    if lat is None and lon is None and location is not None:
        parts = location.split(",")
        if len(parts) < 2:
            raise ProtocolError(f"location must be 'lat,lon' (got {_short(location)})")
        lat, lon = parts[0].strip(), parts[1].strip()
        names = {"lat": "location latitude", "lon": "location longitude"}
    if lat is None and lon is None:
        return None  # network-only (cell, wifi) report: accepted, nothing to store
    valid = _param(params, "valid")
    if valid is not None and valid.lower() not in ("true", "1"):
        return None  # the receiver says it has no fix (Traccar: anything but true/1)
    raw = {"lat": lat, "lon": lon}
    for canonical, wire_names in dialect.names.items():
        for wire in wire_names:
            value = _param(params, wire)
            if value is not None and not (dialect.unfilled and dialect.unfilled.fullmatch(value)):
                raw[canonical], names[canonical] = value, wire
                break
    timestamp = raw.pop("timestamp", None)
    try:
        numbers = _QueryNumbers.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        raise _error(exc, names=names) from None
    accuracy = numbers.accuracy if numbers.accuracy and numbers.accuracy > 0 else None
    if accuracy is None and numbers.hdop and numbers.hdop > 0:
        accuracy = numbers.hdop * dialect.hdop_m
    speed = numbers.speed * dialect.speed_mps if numbers.speed is not None and numbers.speed >= 0 else None
    return _fix(numbers.lat, numbers.lon, parse_time(timestamp, now=now, name=names.get("timestamp", "timestamp")),
                accuracy_m=accuracy, speed_mps=speed,
                heading_deg=numbers.bearing, altitude_m=numbers.altitude, battery_pct=numbers.batt,
                mock=(_param(params, "mock") or "").lower() in ("true", "1"))  # Traccar Client adds mock=true


# --- OsmAnd JSON form (Traccar Client 9+) -----------------------------------------------------

class _Coords(BaseModel):
    """``location.coords``: degrees, metres, m/s; -1 means unknown."""

    model_config = ConfigDict(allow_inf_nan=False)

    latitude: JsonLat
    longitude: JsonLon
    accuracy: JsonNumber = None
    speed: JsonNumber = None
    heading: JsonNumber = None
    altitude: JsonNumber = None


class _Battery(BaseModel):
    """``location.battery``: ``level`` from 0 to 1, -1 when unknown."""

    model_config = ConfigDict(allow_inf_nan=False)

    level: JsonNumber = None


class _Location(BaseModel):
    """One ``location`` object of the background-geolocation plugin the client is built on."""

    model_config = ConfigDict(allow_inf_nan=False)

    timestamp: Any = None  # read by parse_time, which names what it accepts
    coords: _Coords | None = None
    battery: _Battery | None = None
    extras: dict[str, Any] | None = None
    mock: bool | None = None  # present (true) only for a mock-location provider's position


def decode_osmand_json(body: Any, *, now: datetime) -> Decoded:
    """Decode the JSON form of Traccar Client 9 and later (speed in m/s, battery level 0 to 1)."""
    if not isinstance(body, dict):
        raise ProtocolError("the body must be a JSON object with device_id and location")
    key = _device_key(body.get("device_id"), "device_id")
    raw_locations = body.get("location")
    if raw_locations is None:
        raise ProtocolError("location is required")
    many = isinstance(raw_locations, list)  # the plugin's batch sync sends a list
    raw_locations = raw_locations if many else [raw_locations]
    if len(raw_locations) > MAX_POSITIONS:
        raise ProtocolError(f"at most {MAX_POSITIONS} locations in one request")
    fixes, alarm = [], None
    for i, raw in enumerate(raw_locations):
        where = f"location[{i}]." if many else "location."
        if not isinstance(raw, dict):
            raise ProtocolError(f"{where.rstrip('.')} must be a JSON object")
        this_alarm = _alarm(raw.get("alarm")) or _alarm(_get(raw.get("extras"), "alarm"))
        alarm = alarm or this_alarm
        try:
            fix = _json_fix(raw, where, now=now)
        except ProtocolError:
            if this_alarm is None:
                raise
            continue  # never lose a panic to a bad position
        if fix is not None:
            fixes.append(fix)
    return Decoded(key, fixes, alarm)


def _get(obj: Any, name: str) -> Any:
    """Return obj[name] when obj is a dict, else None."""
    return obj.get(name) if isinstance(obj, dict) else None


def _json_fix(raw: dict, where: str, *, now: datetime) -> Fix | None:
    """Return one location's Fix, or None when it has no coords (a heartbeat or provider change)."""
    try:
        loc = _Location.model_validate(raw)
    except ValidationError as exc:
        raise _error(exc, prefix=where) from None
    if loc.coords is None:
        return None
    c = loc.coords
    level = loc.battery.level if loc.battery is not None else None
    return _fix(c.latitude, c.longitude, parse_time(loc.timestamp, now=now, name=where + "timestamp"),
                accuracy_m=c.accuracy, speed_mps=c.speed, heading_deg=c.heading, altitude_m=c.altitude,
                battery_pct=level * 100.0 if level is not None and 0 <= level <= 1 else None,
                mock=loc.mock is True)


# --- OwnTracks HTTP mode ----------------------------------------------------------------------

class _OwnTracksLocation(BaseModel):
    """An OwnTracks ``location``: lat, lon, tst required; acc/alt m, vel km/h, cog deg, batt %."""

    model_config = ConfigDict(allow_inf_nan=False)

    lat: JsonLat
    lon: JsonLon
    tst: Annotated[StrictInt, Field(ge=0, le=MAX_EPOCH_S)]
    acc: JsonNumber = None
    vel: JsonNumber = None
    cog: JsonNumber = None
    alt: JsonNumber = None
    batt: JsonNumber = None


def decode_owntracks(body: Any, *, topic_user: str | None = None) -> Decoded:
    """Decode an OwnTracks HTTP payload (one message or a list); only ``location`` carries a fix.

    ``device_key`` is ``topic_user`` (the HTTP user), else the user named in the payload's
    ``topic``: informational only, since the payload is the client's to write.
    """
    messages = body if isinstance(body, list) else [body]
    if len(messages) > MAX_POSITIONS:
        raise ProtocolError(f"at most {MAX_POSITIONS} messages in one request")
    fixes, key = [], topic_user
    for i, message in enumerate(messages):
        where = f"message {i}: " if isinstance(body, list) else ""
        if not isinstance(message, dict) or not isinstance(message.get("_type"), str):
            raise ProtocolError(f"{where}an OwnTracks message must be a JSON object with a string _type")
        kind = message["_type"]
        if key is None:
            key = _topic_user(message.get("topic"))
        if kind == "encrypted":
            raise ProtocolError("encrypted OwnTracks payloads are not supported: clear the secret in the app")
        if kind != "location":
            for name in ("lat", "lon"):  # typed by the schema for every message type
                value = message.get(name)
                if name in message and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    raise ProtocolError(f"{where}{kind} {name} must be a number (got {_short(value)})")
            continue  # transition, waypoint(s), lwt, card, cmd, status, steps…: accepted, ignored
        try:
            loc = _OwnTracksLocation.model_validate(message)
        except ValidationError as exc:
            raise _error(exc, prefix=where) from None
        fixes.append(_fix(loc.lat, loc.lon, EPOCH + timedelta(seconds=loc.tst), accuracy_m=loc.acc,
                          speed_mps=loc.vel * KMH_MPS if loc.vel is not None and loc.vel >= 0 else None,
                          heading_deg=loc.cog, altitude_m=loc.alt, battery_pct=loc.batt))
    return Decoded(key, fixes, None)


def _topic_user(topic: Any) -> str | None:
    """Return USER from an ``owntracks/USER/DEVICE`` topic, else None."""
    if not isinstance(topic, str):
        return None
    parts = topic.split("/")
    return parts[1] or None if len(parts) >= 3 else None
