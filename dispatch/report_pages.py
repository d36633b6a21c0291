"""The dispatcher's review page of places escorts reported: where (in words and on a map), publish or decline."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from app.auth import page_roles
from app.db import request_session, utcnow
from dispatch import place_reports, service
from places.cache import words_for
from places.geocoding import GeocoderUnavailable

pages = Blueprint("place_reports", __name__)

STAFF = ("admin", "dispatcher")


def _words(session, lat: float, lon: float, now) -> str | None:
    """Return the address of a position in words, or None when the geocoder cannot say."""
    geocoder = current_app.extensions["escort"].geocoder
    if geocoder is None or lat is None or lon is None:
        return None
    try:
        return words_for(session, geocoder, lat, lon, now=now)
    except GeocoderUnavailable:
        return None


def _render(errors: dict | None = None, values: dict | None = None, status: int = 200):
    """Render the page with the reports waiting for review."""
    session = request_session()
    now = utcnow()
    names = place_reports.user_names(session)
    rows = []
    for place in place_reports.reported(session):
        row = place_reports.public(place, names)
        row["address"] = _words(session, place.lat, place.lon, now)
        rows.append(row)
    session.commit()  # the geocoder's answers are cached
    cfg = current_app.extensions["escort"].config
    page = {"tile_url": cfg.tile_url, "tile_attribution": cfg.tile_attribution,
            "reports": [{"id": r["id"], "lat": r["lat"], "lon": r["lon"], "title": r["title"],
                         "label": r["label"]} for r in rows]}
    return render_template("dispatch/place_reports.html", reports=rows, errors=errors or {}, values=values or {},
                           page=page), status


@pages.route("/admin/places/reports")
@page_roles(*STAFF)
def reports_page():
    """Show the places escorts reported, waiting for review."""
    return _render()


@pages.route("/admin/places/reports/<int:place_id>/publish", methods=["POST"])
@page_roles(*STAFF)
def publish_page(place_id: int):
    """Publish a reported place to the shared warning list."""
    session = request_session()
    try:
        place = place_reports.publish(session, place_id, user=g.user, now=utcnow())
    except place_reports.ReportError as exc:
        flash(str(exc))
        return redirect(url_for("place_reports.reports_page"))
    session.commit()
    service.places_changed(session, now=utcnow())  # warn from this process's next fix; redraw the live maps
    place_reports.tell_reporter(session, place, utcnow())
    flash(f"Published: {place_reports.public(place, {})['title']} at {place.label}. Trips near it are warned now.")
    return redirect(url_for("place_reports.reports_page"))


@pages.route("/admin/places/reports/<int:place_id>/decline", methods=["POST"])
@page_roles(*STAFF)
def decline_page(place_id: int):
    """Decline a reported place with a reason."""
    field = f"decline-reason-{place_id}"
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        return _render({field: "Say why the report is declined"}, status=400)
    session = request_session()
    try:
        place = place_reports.decline(session, place_id, user=g.user, reason=reason, now=utcnow())
    except place_reports.ReportError as exc:
        flash(str(exc))
        return redirect(url_for("place_reports.reports_page"))
    session.commit()
    place_reports.tell_reporter(session, place, utcnow())
    flash(f"Declined: {place_reports.public(place, {})['title']} at {place.label}.")
    return redirect(url_for("place_reports.reports_page"))
