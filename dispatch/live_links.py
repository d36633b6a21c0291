"""Responder links: a time-limited, read-only live location of one alert's escort, for people outside the company.

A link is a random token (``secrets.token_urlsafe(32)``) of which only a SHA-256 is kept. It ends
at ``expires_at``, when a dispatcher revokes it, or when its alert is resolved, whichever comes
first. An escalation step's link is one per alert and audience (the staff levels, or the escort's
personal emergency contact, who is outside the organisation and never gets the staff's URL): its
token is an HMAC of the audience and the link's own row under a key derived from the server's
SECRET_KEY, so a later step of the same audience names the same link again (its end pushed on)
without the token ever being stored, and a link of the other audience never matches. A revoked or
expired one is never named again (the extension is a conditional UPDATE: a link revoked meanwhile
is left dead and a new one made), and with a changed SECRET_KEY the next step simply makes a new
link. An ended link and a link that never was look the same to whoever holds it. What the page
shows is the alert (kind, when, where in words), the escort's name and phone and what to do: no
patient data. Creating, revoking and every opening of the page are audited, never with the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, select

from app import audit
from app.models import AuditEvent, User
from app.times import iso_z
from dispatch import alerts, escalation
from dispatch.models import Alert, LiveLink, Trip
from tracking.models import Device

# The live page names a duress alert for what it is to an outside responder, in words an escort
# glancing at a screen would not take for their own duress PIN having worked.
PAGE_KIND_WORDS = {**escalation.KIND_WORDS, "duress": "SILENT ALARM (the escort secretly asked for help)"}
# Who an escalation step's link is for: the organisation's own people, or the escort's personal
# emergency contact. A step reuses only a link of its own audience.
AUDIENCES = ("staff", "contact")
# The step tokens' HMAC key is derived from SECRET_KEY for this one use (never the raw secret).
KEY_CONTEXT = b"escort-live-link-v1"


class LiveLinkError(ValueError):
    """A link cannot be made or changed; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Made:
    """A new link: its row and its token (shown once, never stored)."""

    link: LiveLink
    token: str


def hash_token(token: str) -> str:
    """Return the SHA-256 of a link's token, as stored (the token carries 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def url(public_url: str, token: str) -> str:
    """Return the link's address on the server's public base URL."""
    return f"{public_url.rstrip('/')}/live/{token}"


def ends_at(link: LiveLink, alert: Alert) -> datetime:
    """Return when the link ends: its expiry, or the alert's resolution when that came first."""
    ends = [link.expires_at] + [t for t in (link.revoked_at, alert.resolved_at) if t is not None]
    return min(ends)


def state(link: LiveLink, alert: Alert, now: datetime) -> str:
    """Return ``open``, or what ended the link first: ``revoked``, ``alert resolved`` or ``expired``."""
    ends = ends_at(link, alert)
    if link.revoked_at is not None and link.revoked_at == ends:
        return "revoked"
    if alert.resolved_at is not None and alert.resolved_at == ends:
        return "alert resolved"
    return "open" if now < link.expires_at else "expired"


def create(session: Session, alert: Alert, *, now: datetime, minutes: int, user: User | None = None) -> Made:
    """Make a link to the alert's live location for ``minutes``; ``user`` None when an escalation step makes it."""
    if alert.resolved_at is not None:
        raise LiveLinkError("the alert is resolved: no live link can be made for it")
    token = secrets.token_urlsafe(32)
    link = _insert(session, alert, hash_token(token), now=now, minutes=minutes, user=user)
    return Made(link, token)


def _insert(session: Session, alert: Alert, token_hash: str, *, now: datetime, minutes: int,
            user: User | None) -> LiveLink:
    """Store a new link with this token hash and audit it."""
    link = LiveLink(token_hash=token_hash, alert_id=alert.id, trip_id=alert.trip_id, created_at=now,
                    expires_at=now + timedelta(minutes=minutes), created_by_id=user.id if user else None)
    session.add(link)
    session.flush()
    audit.record(session, user, "live_link_created", object_type="live_link", object_id=link.id,
                 detail={"alert_id": alert.id, "trip_id": alert.trip_id, "expires_at": iso_z(link.expires_at),
                         "by": "escalation" if user is None else user.username})
    return link


def link_key(secret: str) -> bytes:
    """Return the key of the step tokens' HMAC: HMAC-SHA256(SECRET_KEY, "escort-live-link-v1")."""
    return hmac.new(secret.encode(), KEY_CONTEXT, hashlib.sha256).digest()


def step_token(secret: str, link: LiveLink, audience: str) -> str:
    """Return the token of an escalation step's link for ``audience``: an HMAC of the audience and the
    link's row under the derived key (256 bits)."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")
    mac = hmac.new(link_key(secret), f"{audience}:{link.id}:{link.alert_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def for_step(session: Session, alert: Alert, *, now: datetime, minutes: int, secret: str, audience: str) -> Made:
    """Return the alert's one escalation link of ``audience`` for this step: the open one, its end pushed to
    ``now + minutes``, else a new one. A revoked or expired link is never named again; nor is a dispatcher's
    (its token is unknown) nor one of the other audience (its token is another HMAC)."""
    if alert.resolved_at is not None:
        raise LiveLinkError("the alert is resolved: no live link can be made for it")
    open_links = session.exec(select(LiveLink).where(
        LiveLink.alert_id == alert.id, LiveLink.created_by_id.is_(None), LiveLink.revoked_at.is_(None),
        LiveLink.expires_at > now).order_by(LiveLink.id.desc())).all()
    for link in open_links:
        token = step_token(secret, link, audience)
        if not hmac.compare_digest(hash_token(token), link.token_hash):
            continue  # another audience's, made under another SECRET_KEY, or a dispatcher's: not this step's
        if _extend(session, alert, link, now=now, until=now + timedelta(minutes=minutes)):
            return Made(link, token)
        # Revoked (or ended) since it was read: its token is dead, so this step makes a new link.
    # The token names the row, so the row comes first: with a throwaway hash nobody holds the token of.
    link = _insert(session, alert, hash_token(secrets.token_urlsafe(32)), now=now, minutes=minutes, user=None)
    token = step_token(secret, link, audience)
    link.token_hash = hash_token(token)
    session.add(link)
    session.flush()
    return Made(link, token)


def _extend(session: Session, alert: Alert, link: LiveLink, *, now: datetime, until: datetime) -> bool:
    """Keep the link open until ``until`` (never shorter), only if it is still open in the database;
    return False when a dispatcher revoked it (or it ended) since it was read."""
    before = link.expires_at
    until = max(until, before)
    moved = session.execute(
        update(LiveLink).where(LiveLink.id == link.id, LiveLink.revoked_at.is_(None), LiveLink.expires_at > now)
        .values(expires_at=until).execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(link)
    if moved != 1:
        return False
    if until > before:
        audit.record(session, None, "live_link_extended", object_type="live_link", object_id=link.id,
                     detail={"alert_id": alert.id, "trip_id": alert.trip_id, "from": iso_z(before),
                             "expires_at": iso_z(until)})
    return True


def revoke(session: Session, link: LiveLink, user: User, *, now: datetime) -> LiveLink:
    """End a link now; revoking it twice is a conflict."""
    if link.revoked_at is not None:
        raise LiveLinkError("the link is already revoked")
    link.revoked_at = now
    session.add(link)
    audit.record(session, user, "live_link_revoked", object_type="live_link", object_id=link.id,
                 detail={"alert_id": link.alert_id, "trip_id": link.trip_id})
    return link


def find(session: Session, token: str, *, now: datetime) -> tuple[LiveLink, Alert] | None:
    """Return the open link of ``token`` with its alert, or None (unknown, expired, revoked or alert resolved)."""
    if not token or len(token) > 100:
        return None
    link = session.exec(select(LiveLink).where(LiveLink.token_hash == hash_token(token))).first()
    if link is None:
        return None
    alert = session.get(Alert, link.alert_id)
    if alert is None or state(link, alert, now) != "open":
        return None
    return link, alert


def record_opened(session: Session, link: LiveLink, *, now: datetime) -> None:
    """Audit an opening of the link's page, saying whether it is the first."""
    seen = session.exec(select(AuditEvent.id).where(AuditEvent.action == "live_link_opened",
                                                    AuditEvent.object_type == "live_link",
                                                    AuditEvent.object_id == link.id).limit(1)).first()
    audit.record(session, None, "live_link_opened", object_type="live_link", object_id=link.id,
                 detail={"alert_id": link.alert_id, "trip_id": link.trip_id, "first": seen is None,
                         "at": iso_z(now)})


def listed(session: Session, alert: Alert, *, now: datetime) -> list[dict]:
    """Return the alert's links, newest first, as the trip page lists them (never a token)."""
    links = session.exec(select(LiveLink).where(LiveLink.alert_id == alert.id)
                         .order_by(LiveLink.created_at.desc(), LiveLink.id.desc())).all()
    names = {u.id: u.username for u in session.exec(select(User).where(
        User.id.in_({l.created_by_id for l in links if l.created_by_id}))).all()} if links else {}
    return [public(link, alert, now=now, by=names.get(link.created_by_id)) for link in links]


def public(link: LiveLink, alert: Alert, *, now: datetime, by: str | None = None, live_url: str | None = None) -> dict:
    """Return a link as the API shows it; ``live_url`` only in the answer that made it."""
    body = {"id": link.id, "alert_id": link.alert_id, "trip_id": link.trip_id, "created_at": iso_z(link.created_at),
            "expires_at": iso_z(link.expires_at), "revoked_at": iso_z(link.revoked_at),
            "ends_at": iso_z(ends_at(link, alert)), "state": state(link, alert, now),
            "created_by": by if link.created_by_id else "escalation"}
    if live_url is not None:
        body["live_url"] = live_url
    return body


def position(session: Session, link: LiveLink, alert: Alert) -> dict:
    """Return the escort's last known position (the device's last fix, else the alert's own place)."""
    trip = session.get(Trip, link.trip_id) if link.trip_id else None
    device = session.get(Device, alert.device_id or (trip.device_id if trip else None) or 0)
    if device is not None and device.last_lat is not None:
        return {"lat": device.last_lat, "lon": device.last_lon, "at": iso_z(device.last_fix_at)}
    detail = _alert_detail(alert)
    lat, lon = detail.get("lat"), detail.get("lon")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        return {"lat": lat, "lon": lon, "at": iso_z(alert.raised_at)}
    return {"lat": None, "lon": None, "at": None}


def page(session: Session, link: LiveLink, alert: Alert, *, tz: str, dispatch_phone: str | None) -> dict:
    """Return what the live page shows: the alert, the escort's name and phone, what to do. No patient data."""
    trip = session.get(Trip, link.trip_id) if link.trip_id else None
    escort = session.get(User, trip.escort_user_id) if trip and trip.escort_user_id else None
    phone = escort.phone if escort else None
    local = alert.raised_at.astimezone(ZoneInfo(tz))
    here = position(session, link, alert)
    where_lat = _alert_detail(alert).get("lat", here["lat"])
    where_lon = _alert_detail(alert).get("lon", here["lon"])
    return {
        "kind": alert.kind, "kind_words": PAGE_KIND_WORDS.get(alert.kind, alert.kind),
        "raised_at": iso_z(alert.raised_at), "raised_utc": alert.raised_at.strftime("%Y-%m-%d %H:%M UTC"),
        "raised_local": local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or tz), "timezone": tz,
        "place": alert.place,
        "map_url": escalation.map_url(where_lat, where_lon) if isinstance(where_lat, (int, float))
        and isinstance(where_lon, (int, float)) else None,
        "escort": escort.username if escort else None, "escort_phone": phone,
        "dispatch_phone": dispatch_phone,
        "what_to_do": escalation.what_to_do(alert.kind, phone, dispatch_phone),
        "until": iso_z(ends_at(link, alert)), "until_utc": ends_at(link, alert).strftime("%H:%M UTC"),
        "position": here,
    }


def _alert_detail(alert: Alert) -> dict:
    """Return the alert's detail, opened (it may be sealed at rest)."""
    return alerts.opened(alert.detail) or {}
