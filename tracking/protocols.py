"""Decoders for the protocols of trackers we do not write: OsmAnd (Traccar Client) and OwnTracks.

Pure: no Flask, no database. Each returns the device key it names and our ``Fix`` values;
the HTTP handlers authenticate and hand the fixes to the same pipeline as ``/device``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from tracking.fix import Fix

KNOT_MPS = 0.514444
KMH_MPS = 1 / 3.6
# Trackers that report only an HDOP: a common rough conversion to metres of horizontal error.
HDOP_TO_M = 5.0
MAX_POSITIONS = 1000


class ProtocolError(ValueError):
    """A request no decoder can read; the message names the field."""


@dataclass(frozen=True)
class Decoded:
    """What a request said: whose device, its positions (maybe none), and an alarm if any."""

    device_key: str | None
    fixes: list[Fix] = field(default_factory=list)
    alarm: str | None = None


def _number(name: str, raw: Any, *, lo: float | None = None, hi: float | None = None) -> float:
    """Read a finite number (from a number or a numeric string) within a range."""
    if isinstance(raw, bool):
        raise ProtocolError(f"{name} must be a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ProtocolError(f"{name} must be a number, not {str(raw)[:40]!r}") from None
    if not math.isfinite(value):
        raise ProtocolError(f"{name} must be a finite number")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ProtocolError(f"{name} {value:g} is out of range")
    return value


def _optional(name: str, raw: Any, *, unknown_below: float | None = None) -> float | None:
    """Read an optional number; a negative sentinel (-1) means unknown."""
    if raw is None or raw == "":
        return None
    value = _number(name, raw)
    if unknown_below is not None and value < unknown_below:
        return None
    return value


def parse_time(raw: Any, *, now: datetime) -> datetime:
    """Read epoch seconds, epoch milliseconds, ISO-8601 or ``yyyy-MM-dd HH:mm:ss`` (UTC)."""
    if raw is None or raw == "":
        return now
    text = str(raw).strip()
    if text.replace(".", "", 1).isdigit():
        value = float(text)
        if value > 1e11:  # milliseconds: seconds would be past the year 5000
            value /= 1000.0
        return datetime.fromtimestamp(value, timezone.utc)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolError(f"timestamp {text[:40]!r} is not epoch seconds, milliseconds or ISO-8601") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _seq(ts: datetime) -> int:
    """Derive a sequence number from the fix time (these protocols have none): resends are repeats."""
    return int(ts.timestamp() * 1000)


def _fix(lat: float, lon: float, ts: datetime, **extra) -> Fix:
    """Build a Fix with the coordinate checks every protocol shares."""
    lat = _number("lat", lat, lo=-90, hi=90)
    lon = _number("lon", lon, lo=-180, hi=180)
    return Fix(lat=lat, lon=lon, ts=ts, seq=_seq(ts), **extra)


def decode_osmand_query(params: Mapping[str, Any], *, now: datetime) -> Decoded:
    """Decode the OsmAnd query form (GET or POST parameters), as the Traccar Client sends it."""
    key = params.get("id") or params.get("deviceid")
    if not key:
        raise ProtocolError("id (the device token) is required")
    alarm = (params.get("alarm") or "").strip().lower() or None
    if params.get("location"):
        try:
            lat, lon = str(params["location"]).split(",")[:2]
        except ValueError:
            raise ProtocolError("location must be 'lat,lon'") from None
    else:
        lat, lon = params.get("lat"), params.get("lon")
    if lat in (None, "") or lon in (None, ""):
        return Decoded(key, [], alarm)  # a network-only report: accepted, nothing to store
    if str(params.get("valid", "true")).lower() in ("false", "0"):
        return Decoded(key, [], alarm)  # the receiver says it has no fix
    accuracy = _optional("accuracy", params.get("accuracy") or params.get("hacc"))
    if not accuracy and params.get("hdop"):
        accuracy = _number("hdop", params["hdop"], lo=0) * HDOP_TO_M or None
    speed_kn = _optional("speed", params.get("speed"), unknown_below=0)
    heading = _optional("bearing", params.get("bearing") or params.get("heading"), unknown_below=0)
    battery = _optional("batt", params.get("batt"), unknown_below=0)
    fix = _fix(lat, lon, parse_time(params.get("timestamp"), now=now),
               accuracy_m=accuracy or None, speed_mps=speed_kn * KNOT_MPS if speed_kn is not None else None,
               heading_deg=heading % 360 if heading is not None else None,
               altitude_m=_optional("altitude", params.get("altitude")),
               battery_pct=min(battery, 100.0) if battery is not None else None)
    return Decoded(key, [fix], alarm)


def decode_osmand_json(body: Any, *, now: datetime) -> Decoded:
    """Decode the JSON form of Traccar Client 9 and later (speed in m/s, battery 0 to 1)."""
    if not isinstance(body, dict):
        raise ProtocolError("the body must be a JSON object")
    key = body.get("device_id")
    if not key:
        raise ProtocolError("device_id (the device token) is required")
    locations = body.get("location")
    locations = locations if isinstance(locations, list) else [locations]
    if len(locations) > MAX_POSITIONS:
        raise ProtocolError(f"at most {MAX_POSITIONS} locations in one request")
    fixes, alarm = [], None
    for loc in locations:
        if not isinstance(loc, dict) or not isinstance(loc.get("coords"), dict):
            raise ProtocolError("location.coords is required")
        coords = loc["coords"]
        if coords.get("latitude") is None or coords.get("longitude") is None:
            raise ProtocolError("location.coords needs latitude and longitude")
        battery = loc.get("battery") if isinstance(loc.get("battery"), dict) else {}
        level = _optional("battery.level", battery.get("level"), unknown_below=0)
        heading = _optional("heading", coords.get("heading"), unknown_below=0)
        fixes.append(_fix(
            coords["latitude"], coords["longitude"], parse_time(loc.get("timestamp"), now=now),
            accuracy_m=_optional("accuracy", coords.get("accuracy"), unknown_below=0),
            speed_mps=_optional("speed", coords.get("speed"), unknown_below=0),
            heading_deg=heading % 360 if heading is not None else None,
            altitude_m=_optional("altitude", coords.get("altitude")),
            battery_pct=min(level * 100.0, 100.0) if level is not None else None,
        ))
        if loc.get("event") in ("sos", "alarm") or (isinstance(loc.get("extras"), dict) and loc["extras"].get("alarm")):
            alarm = "sos"
    return Decoded(str(key), fixes, alarm)


def decode_owntracks(body: Any) -> Decoded:
    """Decode an OwnTracks HTTP payload: one message or a list; only ``location`` carries a fix."""
    messages = body if isinstance(body, list) else [body]
    if len(messages) > MAX_POSITIONS:
        raise ProtocolError(f"at most {MAX_POSITIONS} messages in one request")
    fixes = []
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("_type"), str):
            raise ProtocolError("each OwnTracks message must be a JSON object with a _type")
        if message["_type"] != "location":
            continue  # transition, waypoint, card, lwt, cmd…: accepted and ignored
        for required in ("lat", "lon", "tst"):
            if required not in message:
                raise ProtocolError(f"a location needs {required}")
        for name in ("lat", "lon", "tst"):
            if not isinstance(message[name], (int, float)) or isinstance(message[name], bool):
                raise ProtocolError(f"{name} must be a number")
        vel = _optional("vel", message.get("vel"), unknown_below=0)
        cog = _optional("cog", message.get("cog"), unknown_below=0)
        batt = _optional("batt", message.get("batt"), unknown_below=0)
        tst = _number("tst", message["tst"], lo=0, hi=1e11)
        fixes.append(_fix(
            message["lat"], message["lon"], datetime.fromtimestamp(tst, timezone.utc),
            accuracy_m=_optional("acc", message.get("acc"), unknown_below=0),
            speed_mps=vel * KMH_MPS if vel is not None else None,
            heading_deg=cog % 360 if cog is not None else None,
            altitude_m=_optional("alt", message.get("alt")),
            battery_pct=min(batt, 100.0) if batt is not None else None,
        ))
    return Decoded(None, fixes, None)
