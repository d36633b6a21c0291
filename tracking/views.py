"""Thin tracking views: the escort's tablet page and the HTTP ingest endpoints."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template
from flask_login import current_user

from app.api import ApiError, json_payload
from app.auth import bearer_token, page_roles
from app.db import request_session, utcnow
from dispatch import present, trips
from tracking import devices, ingest

bp = Blueprint("tracking", __name__)


@bp.route("/escort")
@page_roles("escort")
def escort_page():
    """Show the escort's tablet: their trip, status buttons, GPS streaming."""
    session = request_session()
    trip = trips.current_trip_for_escort(session, current_user)
    return render_template("escort/tablet.html", trip=present.trip_for_escort(session, trip),
                           status_labels=trips.STATUS_LABELS)


@bp.post("/api/v1/fixes")
def post_fixes():
    """Store a JSON list of fixes from a device token; answer accepted and rejected seqs."""
    session = request_session()
    device = devices.device_for_token(session, bearer_token())
    if device is None:
        raise ApiError("a valid device token is required (Authorization: Bearer …)", 401)
    data = json_payload()
    if not isinstance(data, list):
        raise ApiError("the body must be a JSON list of fixes")
    ext = current_app.extensions["escort"]
    result = ingest.accept_payloads(session, device, data, now=utcnow(), limits=ext.limits,
                                    trip_cache=ext.active_trips, zone_cache=ext.zones)
    return jsonify(accepted=result.accepted, rejected=result.rejected)
