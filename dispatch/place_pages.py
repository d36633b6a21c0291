"""The places page (/admin/places): hazard zones and flagged places on a map and in forms, for dispatchers and admins.

Thin views over dispatch.zones and dispatch.flags. Drawing and editing on the map (Leaflet-Geoman,
app/static/js/places.js) only fills the same forms a keyboard user fills by hand: what is saved is
always a posted form.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlmodel import Session, select

from app.auth import page_roles
from app.db import request_session, utcnow
from app.models import User
from dispatch import flags, service, zones

pages = Blueprint("places_admin", __name__, url_prefix="/admin/places")

STAFF = ("admin", "dispatcher")
FLAG_LIFETIME_DEFAULT = timedelta(days=365)
# The services' words for a field → the form's field name.
ZONE_FIELDS = {"name": "name", "reason": "reason", "polygon": "vertices", "expires_at": "expires_on"}
FLAG_FIELDS = {"label": "label", "category": "category", "reason": "reason", "lat": "lat", "lon": "lon",
               "radius_m": "radius_m", "point": "lat", "polygon": "vertices", "expires_at": "expires_on",
               "form": "label"}


class FormError(ValueError):
    """A form value that cannot be read; ``field`` names the form field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _tz() -> str:
    """Return the dispatch office's time zone."""
    return current_app.extensions["escort"].config.timezone


def _local(value: datetime | None) -> str:
    """Format a time in the office's zone, saying which."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(_tz())).strftime("%Y-%m-%d %H:%M ") + _tz()


def _local_day(value: datetime | None) -> str:
    """Return the office-local date of a time, as a date field shows it."""
    return value.astimezone(ZoneInfo(_tz())).date().isoformat() if value else ""


def _end_of_day(text: str, *, required: bool) -> datetime | None:
    """Read a date field as the end of that day in the office's zone (a warning lasts the whole day)."""
    text = (text or "").strip()
    if not text:
        if required:
            raise FormError("Enter the date until which the warning holds, as YYYY-MM-DD", "expires_on")
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise FormError("Enter the date as YYYY-MM-DD, e.g. 2027-06-30", "expires_on") from None
    return datetime.combine(day, time(23, 59), tzinfo=ZoneInfo(_tz())).astimezone(ZoneInfo("UTC"))


def _number(form, name: str, words: str) -> float:
    """Read a number field, or raise naming it."""
    raw = (form.get(name) or "").strip()
    if not raw:
        raise FormError(f"Enter the {words}", name)
    try:
        return float(raw)
    except ValueError:
        raise FormError(f"The {words} must be a number", name) from None


def _zone_changes(form) -> dict:
    """Read a zone form into the service's fields."""
    try:
        polygon = zones.polygon_from_text(form.get("vertices", ""))
    except zones.ZoneError as exc:
        raise FormError(str(exc), "vertices") from None
    return {"name": form.get("name", ""), "reason": form.get("reason", ""), "polygon": polygon,
            "expires_at": _end_of_day(form.get("expires_on", ""), required=False)}


def _flag_changes(form, *, area: bool) -> dict:
    """Read a flagged-place form into the service's fields (a circle, or an area by its corners)."""
    changes = {"label": form.get("label", ""), "category": form.get("category", ""), "reason": form.get("reason", ""),
               "expires_at": _end_of_day(form.get("expires_on", ""), required=True)}
    if area:
        try:
            changes["polygon"] = zones.polygon_from_text(form.get("vertices", ""))
        except zones.ZoneError as exc:
            raise FormError(str(exc), "vertices") from None
    else:
        changes["point"] = {"lat": _number(form, "lat", "latitude"), "lon": _number(form, "lon", "longitude"),
                            "radius_m": _number(form, "radius_m", "radius in metres")}
    return changes


def _names(session: Session, ids: set) -> dict[int, str]:
    """Return user names by id."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {u.id: u.username for u in session.exec(select(User).where(User.id.in_(ids))).all()}


def _view(session: Session, *, form_id: str | None = None, errors: dict | None = None, raw: dict | None = None,
          status: int = 200):
    """Render the page: the map, the lists with their edit forms, the forms to add; one form may carry errors."""
    now = utcnow()
    zone_rows, flag_rows = zones.active_zones(session, now), flags.in_force(session, now)
    names = _names(session, {z.created_by_id for z in zone_rows} | {p.created_by_id for p in flag_rows})
    zone_items = [{
        "id": z.id, "form": f"zone-{z.id}", "name": z.name, "reason": z.reason or "", "ring": z.ring,
        "who": names.get(z.created_by_id, "unknown"), "created": _local(z.created_at),
        "changed": _local(z.updated_at) if z.updated_at != z.created_at else "",
        "expires": _local(z.expires_at),
        "values": {"name": z.name, "reason": z.reason or "", "vertices": zones.ring_as_text(z.ring),
                   "expires_on": _local_day(z.expires_at)},
    } for z in sorted(zone_rows, key=lambda z: z.name.lower())]
    flag_items = [{
        "id": p.id, "form": f"flag-{p.id}", "label": p.label, "category": p.category,
        "category_label": flags.CATEGORY_LABELS.get(p.category, "Warning"), "reason": p.reason,
        "area": bool(p.ring), "ring": p.ring, "lat": p.lat, "lon": p.lon, "radius_m": p.radius_m,
        "who": names.get(p.created_by_id, "unknown"), "created": _local(p.created_at),
        "changed": _local(p.updated_at) if p.updated_at != p.created_at else "", "expires": _local(p.expires_at),
        "values": {"label": p.label, "category": p.category, "reason": p.reason,
                   "lat": "" if p.lat is None else f"{p.lat:.6f}", "lon": "" if p.lon is None else f"{p.lon:.6f}",
                   "radius_m": "" if p.radius_m is None else f"{p.radius_m:g}",
                   "vertices": zones.ring_as_text(p.ring), "expires_on": _local_day(p.expires_at)},
    } for p in flag_rows]
    new_values = {"zone-new": {}, "flag-new": {"category": "other", "radius_m": "30",
                                               "expires_on": _local_day(now + FLAG_LIFETIME_DEFAULT)}}
    if form_id and raw is not None:  # the form in error keeps what was typed
        for item in zone_items + flag_items:
            if item["form"] == form_id:
                item["values"] = raw
        if form_id in new_values:
            new_values[form_id] = raw
    cfg = current_app.extensions["escort"].config
    page = {"tile_url": cfg.tile_url, "tile_attribution": cfg.tile_attribution, "open_form": form_id,
            "zones": [{"id": z["id"], "name": z["name"], "reason": z["reason"], "ring": z["ring"]} for z in zone_items],
            "flags": [{"id": f["id"], "label": f["label"], "category": f["category_label"], "reason": f["reason"],
                       "ring": f["ring"], "lat": f["lat"], "lon": f["lon"], "radius_m": f["radius_m"]}
                      for f in flag_items]}
    return render_template("dispatch/places.html", zones=zone_items, flags=flag_items, new_values=new_values,
                           categories=[(c, flags.CATEGORY_LABELS[c]) for c in flags.CATEGORIES], tz=_tz(),
                           form_id=form_id, errors=errors or {}, page=page), status


def _refused(session: Session, form_id: str, field: str, message: str):
    """Undo the attempt and show the page again, the message at the top and at the field, the values kept."""
    session.rollback()
    raw = {k: v for k, v in request.form.items() if k != "csrf_token"}
    return _view(session, form_id=form_id, errors={field: message}, raw=raw, status=400)


def _places_changed(session: Session) -> None:
    """Detect with the changed places from this process's next fix, and redraw them on every open live map."""
    service.places_changed(session, now=utcnow())


@pages.get("")
@page_roles(*STAFF)
def places_page():
    """Show the hazard zones and flagged places in force, on the map and as a list, with the forms to change them."""
    return _view(request_session())


@pages.post("/zones")
@page_roles(*STAFF)
def create_zone_page():
    """Create a hazard zone from the form (its corners drawn on the map or typed)."""
    session = request_session()
    try:
        changes = _zone_changes(request.form)
        zone = zones.create_zone(session, name=changes["name"], reason=changes["reason"], polygon=changes["polygon"],
                                 expires_at=changes["expires_at"], user=g.user, now=utcnow(), via="page")
    except FormError as exc:
        return _refused(session, "zone-new", exc.field, str(exc))
    except zones.ZoneError as exc:
        return _refused(session, "zone-new", ZONE_FIELDS.get(exc.field, "vertices"), str(exc))
    session.commit()
    _places_changed(session)
    flash(f"Hazard zone “{zone.name}” added: trips entering it raise an alert.")
    return redirect(url_for("places_admin.places_page", _anchor=f"zone-{zone.id}"))


def _zone_or_404(zone_id: int):
    """Return the active zone, or answer 404."""
    zone = zones.active_zone(request_session(), zone_id)
    if zone is None:
        abort(404)
    return zone


@pages.post("/zones/<int:zone_id>")
@page_roles(*STAFF)
def update_zone_page(zone_id: int):
    """Save a zone's edit form: name, reason, corners, expiry."""
    session = request_session()
    zone = _zone_or_404(zone_id)
    try:
        zones.update_zone(session, zone, _zone_changes(request.form), user=g.user, now=utcnow(), via="page")
    except FormError as exc:
        return _refused(session, f"zone-{zone_id}", exc.field, str(exc))
    except zones.ZoneError as exc:
        return _refused(session, f"zone-{zone_id}", ZONE_FIELDS.get(exc.field, "vertices"), str(exc))
    session.commit()
    _places_changed(session)
    flash(f"Hazard zone “{zone.name}” saved.")
    return redirect(url_for("places_admin.places_page", _anchor=f"zone-{zone.id}"))


@pages.post("/zones/<int:zone_id>/retire")
@page_roles(*STAFF)
def retire_zone_page(zone_id: int):
    """Retire a zone: it stays on record, no longer in force."""
    session = request_session()
    zone = _zone_or_404(zone_id)
    zones.retire_zone(session, zone, user=g.user, now=utcnow(), via="page")
    session.commit()
    _places_changed(session)
    flash(f"Hazard zone “{zone.name}” retired: it no longer raises alerts.")
    return redirect(url_for("places_admin.places_page"))


@pages.post("/flags")
@page_roles(*STAFF)
def create_flag_page():
    """Create a flagged place from the form (a circle placed on the map, found by address, or typed)."""
    session = request_session()
    try:
        changes = _flag_changes(request.form, area=False)
        place = flags.create(session, label=changes["label"], category=changes["category"], reason=changes["reason"],
                             point=changes["point"], polygon=None, expires_at=changes["expires_at"], user=g.user,
                             now=utcnow(), via="page")
    except FormError as exc:
        return _refused(session, "flag-new", exc.field, str(exc))
    except flags.FlagError as exc:
        return _refused(session, "flag-new", FLAG_FIELDS.get(exc.field, "label"), str(exc))
    session.commit()
    _places_changed(session)
    flash(f"Flagged place “{place.label}” added: trips touching it are warned.")
    return redirect(url_for("places_admin.places_page", _anchor=f"flag-{place.id}"))


def _flag_or_404(flag_id: int):
    """Return the active flagged place, or answer 404."""
    place = flags.active(request_session(), flag_id)
    if place is None:
        abort(404)
    return place


@pages.post("/flags/<int:flag_id>")
@page_roles(*STAFF)
def update_flag_page(flag_id: int):
    """Save a flagged place's edit form."""
    session = request_session()
    place = _flag_or_404(flag_id)
    try:
        changes = _flag_changes(request.form, area=bool(place.ring))
        flags.update(session, place, changes, user=g.user, now=utcnow(), via="page")
    except FormError as exc:
        return _refused(session, f"flag-{flag_id}", exc.field, str(exc))
    except flags.FlagError as exc:
        return _refused(session, f"flag-{flag_id}", FLAG_FIELDS.get(exc.field, "label"), str(exc))
    session.commit()
    _places_changed(session)
    flash(f"Flagged place “{place.label}” saved.")
    return redirect(url_for("places_admin.places_page", _anchor=f"flag-{place.id}"))


@pages.post("/flags/<int:flag_id>/retire")
@page_roles(*STAFF)
def retire_flag_page(flag_id: int):
    """Retire a flagged place: it stays on record, no longer warned about."""
    session = request_session()
    place = _flag_or_404(flag_id)
    flags.retire(session, place, user=g.user, now=utcnow(), via="page")
    session.commit()
    _places_changed(session)
    flash(f"Flagged place “{place.label}” retired: trips are no longer warned about it.")
    return redirect(url_for("places_admin.places_page"))
