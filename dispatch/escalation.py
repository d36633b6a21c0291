"""What one escalation step tells the person it reaches: the kind, when, where (words and a map link),
the escort's phone and what to do. Pure: the scheduler gathers the facts and sends the notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from app.times import iso_z

# Whom each step of the chain reaches; the alert's ``escalation_level`` is the last step taken (0: none).
# Role names, never a person: they go to the webhook's ``to`` and the alerts' ``escalated_to``.
LEVELS = {1: "dispatcher on duty", 2: "supervisor", 3: "escort's emergency contact"}
KIND_WORDS = {
    "panic": "PANIC", "duress": "DURESS (a silent call for help)", "pin_attempts": "wrong PINs on the escort's tablet",
    "missed_checkin": "missed safety check-in", "signal_lost": "tracking signal lost", "deviation": "off the planned route",
    "stop": "unexpected stop", "hazard_zone": "entered a hazard zone", "late": "running late",
    "flagged_place": "entered a flagged place",
    "medication_due": "medication due", "low_battery": "tablet battery low",
}
EMERGENCY = "the local emergency number (999 in the UK, 112 in the EU)"
# What the person reached should do, per kind; {escort_phone} and {dispatch_phone} are filled in.
WHAT_TO_DO = {
    "panic": ("The escort held the panic control. Call the escort now{escort_phone}. If nobody answers, or you hear "
              "trouble, call " + EMERGENCY + " and give them the place above."),
    "duress": ("The escort has secretly signalled that someone is forcing them. Do NOT call the escort: it could put "
               "them at risk. Call " + EMERGENCY + " and give them the place above, then call dispatch{dispatch_phone}."),
    "pin_attempts": ("Someone entered several wrong PINs on the escort's tablet: it may not be the escort holding it. "
                     "Call the escort{escort_phone}; if they do not answer, call dispatch{dispatch_phone}."),
    "missed_checkin": ("The escort missed a safety check-in. Call the escort{escort_phone}. If there is no answer "
                       "within 5 minutes, call dispatch{dispatch_phone}, and " + EMERGENCY + " if nobody can reach them."),
    "signal_lost": ("The escort's tablet stopped sending its position; the place above is the last one known. Call "
                    "the escort{escort_phone}; if there is no answer, call dispatch{dispatch_phone}."),
}
DEFAULT_TO_DO = "Call the escort{escort_phone}, then dispatch{dispatch_phone}, to check that all is well."


@dataclass(frozen=True)
class Where:
    """The alert's place: a position, when it was known, and words for it when a geocoder gave some."""

    lat: float
    lon: float
    at: datetime | None = None
    words: str | None = None


def map_url(lat: float, lon: float) -> str:
    """Return a link that opens the position on OpenStreetMap in any browser (no login, no app)."""
    return f"https://www.openstreetmap.org/?mlat={lat:.5f}&mlon={lon:.5f}#map=17/{lat:.5f}/{lon:.5f}"


def what_to_do(kind: str, escort_phone: str | None, dispatch_phone: str | None) -> str:
    """Return what the person reached should do about an alert of this kind."""
    template = WHAT_TO_DO.get(kind, DEFAULT_TO_DO)
    return template.format(escort_phone=f" on {escort_phone}" if escort_phone else "",
                           dispatch_phone=f" on {dispatch_phone}" if dispatch_phone else "")


def local_time(at: datetime, tz: str) -> str:
    """Return ``at`` in the zone ``tz`` as ISO-8601 with its offset (what "local time" means in a notice)."""
    return at.astimezone(ZoneInfo(tz)).isoformat()


def payload(*, alert_id: int, kind: str, trip_id: int | None, level: int, to: str, raised_at: datetime,
            escort: str | None, escort_phone: str | None, dispatch_phone: str | None, where: Where | None,
            tz: str = "UTC", live_url: str | None = None, live_until: datetime | None = None) -> dict:
    """Return the webhook's JSON for one escalation step (an SMS gateway sends ``text`` as it is).

    ``live_url`` is the responder's live-location link of this alert, open until ``live_until``;
    both are null when the server has no public URL configured (ESCORT_PUBLIC_URL).
    """
    place = None
    if where is not None:
        place = {"lat": where.lat, "lon": where.lon, "at": iso_z(where.at), "words": where.words,
                 "map_url": map_url(where.lat, where.lon)}
    todo = what_to_do(kind, escort_phone, dispatch_phone)
    body = {"event": "escalation", "alert_id": alert_id, "kind": kind, "kind_words": KIND_WORDS.get(kind, kind),
            "trip_id": trip_id, "level": level, "to": to, "raised_at": raised_at.isoformat(), "escort": escort,
            "escort_phone": escort_phone, "dispatch_phone": dispatch_phone, "where": place, "what_to_do": todo,
            "raised_at_local": local_time(raised_at, tz), "timezone": tz,
            "live_url": live_url, "live_until": iso_z(live_until) if live_url else None}
    body["text"] = short_text(body)
    return body


def _place_words(place: dict | None) -> str:
    """Return the place as a line: words if known, else coordinates; with its map link."""
    if place is None:
        return "Where: not known."
    label = place["words"] or f"{place['lat']:.5f}, {place['lon']:.5f}"
    return f"Where: {label} ({place['map_url']})"


def _live_words(body: dict) -> str | None:
    """Return the live link as a sentence with its expiry, or None when the step carries none."""
    if not body.get("live_url"):
        return None
    return f"Live map (no login) until {body['live_until'][11:16]} UTC: {body['live_url']}"


def short_text(body: dict) -> str:
    """Return the step as one message a phone shows whole (what an SMS gateway sends)."""
    text = (f"{body['kind_words'].upper()} alert, escort {body['escort'] or 'unknown'}, raised "
            f"{body['raised_at'][11:16]} UTC ({body['raised_at_local'][11:16]} local), unanswered. "
            f"{_place_words(body['where'])}. {body['what_to_do']}")
    live = _live_words(body)
    return f"{text} {live}" if live else text


def email_body(body: dict) -> str:
    """Return the plain-text e-mail of one escalation step."""
    lines = [
        f"Unanswered alert: {body['kind_words']} (alert {body['alert_id']}, trip {body['trip_id']}).",
        f"Raised at {body['raised_at'][:16].replace('T', ' ')} UTC ({body['raised_at_local'][:16].replace('T', ' ')} "
        f"local time, {body['timezone']}); nobody at dispatch has acknowledged it.",
        f"Escalation step {body['level']}: {body['to']}.",
        "",
        f"Escort: {body['escort'] or 'unknown'}" + (f", phone {body['escort_phone']}" if body["escort_phone"] else ""),
        _place_words(body["where"]) + (f", at {body['where']['at'][11:16]} UTC" if body["where"] and body["where"]["at"]
                                       else ""),
        "",
        f"What to do: {body['what_to_do']}",
    ]
    live = _live_words(body)
    lines += ["", live + "." if live else "No live map link comes with this message."]
    if body["dispatch_phone"]:
        lines.append(f"Dispatch: {body['dispatch_phone']}.")
    return "\n".join(lines)
