"""Thin REST views of place reports: an escort reports a place on their trip; dispatch publishes or declines it."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from app.api import ApiError, parse
from app.auth import api_roles
from app.db import request_session, utcnow
from dispatch import access, place_reports, service
from dispatch.report_schemas import PlaceDecline, PlaceReportIn

api = Blueprint("place_reports_api", __name__, url_prefix="/api/v1")

STAFF = ("admin", "dispatcher")


@api.post("/flagged-places/reports")
@api_roles("escort")
def report_place():
    """Report a place on the escort's own trip (here, the pickup or the drop-off) for dispatch to review."""
    body = parse(PlaceReportIn)
    session = request_session()
    trip = access.visible_trip(session, g.user, body.trip_id)
    try:
        place = place_reports.report(session, user=g.user, trip=trip, where=body.where, category=body.category,
                                     reason=body.reason, now=utcnow())
    except place_reports.ReportError as exc:
        raise ApiError(str(exc), exc.status) from None
    session.commit()
    return jsonify(place_reports.escort_public(place, utcnow())), 201


@api.get("/flagged-places/reports/mine")
@api_roles("escort")
def my_reports():
    """List the places this escort reported on their trip under way (their own only, the latest first) and where each stands."""
    session = request_session()
    now = utcnow()
    return jsonify([place_reports.escort_public(p, now) for p in place_reports.mine(session, g.user)])


@api.get("/flagged-places/reports")
@api_roles(*STAFF)
def list_reports():
    """List the reported places waiting for review (``status=all``: reviewed ones too), with who reported them."""
    session = request_session()
    wanted = request.args.get("status", "reported")
    if wanted not in (*place_reports.STATUSES, "all"):
        raise ApiError(f"status must be one of {', '.join((*place_reports.STATUSES, 'all'))}")
    places = place_reports.reported(session) if wanted == "reported" else place_reports.listed(session, wanted)
    names = place_reports.user_names(session)
    return jsonify([place_reports.public(p, names) for p in places])


@api.post("/flagged-places/<int:place_id>/publish")
@api_roles(*STAFF)
def publish_place(place_id: int):
    """Publish a reported place to the shared list: trips near it are warned from now on."""
    session = request_session()
    try:
        place = place_reports.publish(session, place_id, user=g.user, now=utcnow())
    except place_reports.ReportError as exc:
        raise ApiError(str(exc), exc.status) from None
    session.commit()
    service.places_changed(session, now=utcnow())  # warn from this process's next fix; redraw the live maps
    place_reports.tell_reporter(session, place, utcnow())
    return jsonify(place_reports.public(place, place_reports.user_names(session)))


@api.post("/flagged-places/<int:place_id>/decline")
@api_roles(*STAFF)
def decline_place(place_id: int):
    """Decline a reported place with ``{"reason"}``: kept for the record, never warned about."""
    body = parse(PlaceDecline)
    session = request_session()
    try:
        place = place_reports.decline(session, place_id, user=g.user, reason=body.reason, now=utcnow())
    except place_reports.ReportError as exc:
        raise ApiError(str(exc), exc.status) from None
    session.commit()
    place_reports.tell_reporter(session, place, utcnow())
    return jsonify(place_reports.public(place, place_reports.user_names(session)))
