"""Thin REST views for re-planning: edit and reassign a trip, duplicate it, free escorts, the day's board."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, jsonify, request
from pydantic import ValidationError

from app.api import ApiError, describe, json_payload, parse
from app.auth import api_roles
from app.db import request_session, utcnow
from dispatch import planning, present, service, trips
from dispatch.models import Trip
from dispatch.schemas import TripDuplicate, TripPatch

api = Blueprint("plan_api", __name__, url_prefix="/api/v1")

STAFF = ("admin", "dispatcher")


def trip_or_404(trip_id: int) -> Trip:
    """Return the trip or answer 404 (dispatchers and admins see every trip)."""
    trip = request_session().get(Trip, trip_id)
    if trip is None:
        raise ApiError(f"no trip with id {trip_id}", 404)
    return trip


@api.patch("/trips/<int:trip_id>")
@api_roles(*STAFF)
def patch_trip(trip_id: int):
    """Change what a trip names: escort (reassign), pickup, dropoff, times, allowed stops, settings."""
    session = request_session()
    trip = trip_or_404(trip_id)
    body = parse(TripPatch)
    try:
        changes = body.changes()
    except ValueError as exc:
        raise ApiError(str(exc)) from None
    try:
        edit = service.edit_trip(session, trip, changes, g.user, now=utcnow())
    except trips.TripError as exc:
        session.rollback()
        raise ApiError(str(exc), 409 if isinstance(exc, planning.StateError) else 400) from None
    return jsonify({**present.trip_public(session, trip), "changed": edit.changed})


@api.post("/trips/<int:trip_id>/duplicate")
@api_roles(*STAFF)
def duplicate(trip_id: int):
    """Copy a trip (unassigned unless an escort is named); new times optional."""
    session = request_session()
    source = trip_or_404(trip_id)
    data = json_payload() if request.get_data(cache=True) else {}
    body = parse(TripDuplicate, data)
    try:
        copy = service.duplicate_trip(session, source, g.user, now=utcnow(), escort=body.escort,
                                      scheduled_pickup_at=body.scheduled_pickup_at,
                                      appointment_at=body.appointment_at)
    except trips.TripError as exc:
        session.rollback()
        raise ApiError(str(exc)) from None
    return jsonify(present.trip_public(session, copy)), 201


def time_arg(name: str, *, required: bool = False) -> datetime | None:
    """Return a query parameter as an aware UTC time, or answer 400 naming it."""
    raw = request.args.get(name)
    if not raw:
        if required:
            raise ApiError(f"{name} is required (ISO-8601 with a zone)")
        return None
    try:
        return TripDuplicate.model_validate({"scheduled_pickup_at": raw}).scheduled_pickup_at
    except ValidationError as exc:
        raise ApiError(describe(exc).replace("scheduled_pickup_at", name)) from None


@api.get("/escorts")
@api_roles(*STAFF)
def escorts():
    """List active escorts, free ones first, for a trip from ``start`` (to ``end``, default 90 min later)."""
    start = time_arg("start", required=True)
    end = time_arg("end")
    if end is not None and end <= start:
        raise ApiError("end must lie after start")
    except_trip = request.args.get("except_trip", type=int)
    return jsonify(planning.escort_choices(request_session(), start, end, except_trip=except_trip))
