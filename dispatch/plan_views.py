"""Thin REST views for re-planning: edit and reassign a trip, duplicate it, free escorts, the day's board."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, g, jsonify, request
from pydantic import ValidationError
from sqlmodel import select

from app import realtime
from app.api import ApiError, describe, id_arg, json_payload, parse
from app.auth import api_roles
from app.db import request_session, utcnow
from dispatch import access, planning, present, routes, service, standing, trip_places, trips
from dispatch.models import StandingOrder, Trip
from dispatch.schemas import StandingOrderCreate, StandingOrderSkip, TripDuplicate, TripPatch
from dispatch.settings import validate_settings
from patients.models import Patient
from places.views import located
from tracking.gpxio import route_from_geojson

api = Blueprint("plan_api", __name__, url_prefix="/api/v1")

STAFF = ("admin", "dispatcher")


def office_tz() -> str:
    """Return the office's time zone: standing orders' times and the board's days are local to it."""
    return current_app.extensions["escort"].config.timezone


def trip_or_404(trip_id: int) -> Trip:
    """Return the trip or answer 404 (dispatchers and admins see every trip)."""
    return access.visible_trip(request_session(), g.user, trip_id)


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
    # Places given by address are geocoded first: an ambiguous one answers its candidates, nothing changes.
    for end in ("pickup", "dropoff"):
        if changes.get(end) is not None:
            changes[end] = located(getattr(body, end), end)
    if changes.get("allowed_stops") is not None:
        changes["allowed_stops"] = [located(p, f"allowed_stops.{i}") for i, p in enumerate(body.allowed_stops)]
    named = trip_places.name_places(session, current_app.extensions["escort"].geocoder,
                                    trip_places.places_of(changes.get("pickup"), changes.get("dropoff"),
                                                          changes.get("allowed_stops")), now=utcnow())
    try:
        edit = service.edit_trip(session, trip, changes, g.user, now=utcnow())
    except trips.TripError as exc:
        session.rollback()
        raise ApiError(str(exc), 409 if isinstance(exc, planning.StateError) else 400) from None
    extra = {"geocoding": named.public()} if named.missing else {}
    return jsonify({**present.trip_public(session, trip), "changed": edit.changed, **extra})


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
    except_trip = id_arg("except_trip")
    return jsonify(planning.escort_choices(request_session(), start, end, except_trip=except_trip))


# ---- standing orders ----------------------------------------------------------------------------


def _order_or_404(order_id: int) -> StandingOrder:
    """Return the standing order or answer 404."""
    order = request_session().get(StandingOrder, order_id)
    if order is None:
        raise ApiError(f"no standing order with id {order_id}", 404)
    return order


def tell_trips(session, made: list) -> None:
    """Tell dispatchers (and the escorts) of trips made or cancelled."""
    for trip in made:
        realtime.emit_trip(present.trip_public(session, trip), present.trip_for_escort(session, trip),
                           trip.escort_user_id)


@api.post("/standing-orders")
@api_roles(*STAFF)
def create_standing_order():
    """Create a repeating trip; its trips up to the horizon are made at once, the rest by the sweep."""
    body = parse(StandingOrderCreate)
    session = request_session()
    if session.get(Patient, body.patient_id) is None:
        raise ApiError(f"no patient with id {body.patient_id}")
    # Addresses are geocoded before anything is stored: an ambiguous one answers its candidates.
    pickup, dropoff = located(body.pickup, "pickup"), located(body.dropoff, "dropoff")
    allowed_stops = [located(p, f"allowed_stops.{i}") for i, p in enumerate(body.allowed_stops)]
    named = trip_places.name_places(session, current_app.extensions["escort"].geocoder,
                                    trip_places.places_of(pickup, dropoff, allowed_stops), now=utcnow())
    try:
        route = ([[lat, lon] for lat, lon in route_from_geojson(body.route)] if body.route is not None else
                 # Without a route the order's trips drive the router's (asked once, for every date).
                 routes.road_points(current_app.extensions["escort"].router, pickup, dropoff, allowed_stops))
        settings = validate_settings(body.settings)
        order, made = standing.create(
            session, patient_id=body.patient_id, escort=body.escort, pickup=pickup,
            dropoff=dropoff, route=route, allowed_stops=allowed_stops, settings=settings,
            pickup_time=body.pickup_time, appointment_time=body.appointment_time, days=list(body.days),
            starts_on=body.starts_on, ends_on=body.ends_on, tz=office_tz(), user=g.user, now=utcnow())
    except (ValueError, trips.TripError) as exc:
        session.rollback()
        raise ApiError(str(exc)) from None
    session.commit()
    tell_trips(session, made)
    extra = {"geocoding": named.public()} if named.missing else {}
    return jsonify({**standing.public(session, order), **extra}), 201


@api.get("/standing-orders")
@api_roles(*STAFF)
def list_standing_orders():
    """List standing orders (``active=0`` also the ended ones), newest first."""
    session = request_session()
    query = select(StandingOrder).order_by(StandingOrder.id.desc()).limit(500)
    if request.args.get("active", "1") not in ("0", "false"):
        query = query.where(StandingOrder.active.is_(True))
    return jsonify([standing.public(session, o) for o in session.exec(query).all()])


@api.get("/standing-orders/<int:order_id>")
@api_roles(*STAFF)
def get_standing_order(order_id: int):
    """Return a standing order with each of its dates (trip made, or skipped)."""
    return jsonify(standing.public(request_session(), _order_or_404(order_id)))


@api.delete("/standing-orders/<int:order_id>")
@api_roles(*STAFF)
def end_standing_order(order_id: int):
    """End a standing order: no more trips; its trips not yet started are cancelled (kept for the record)."""
    session = request_session()
    order = _order_or_404(order_id)
    if not order.active:
        raise ApiError(f"standing order {order_id} has already ended", 409)
    cancelled = standing.end(session, order, g.user, now=utcnow())
    session.commit()
    tell_trips(session, cancelled)
    return jsonify(standing.public(session, order))


@api.post("/standing-orders/<int:order_id>/skip")
@api_roles(*STAFF)
def skip_standing_date(order_id: int):
    """Skip one date of a standing order: its trip is cancelled, or never made; the other dates are untouched."""
    session = request_session()
    order = _order_or_404(order_id)
    body = parse(StandingOrderSkip)
    try:
        trip = standing.skip(session, order, body.on, g.user, now=utcnow())
    except standing.StandingError as exc:
        session.rollback()
        raise ApiError(str(exc), 409 if isinstance(exc, standing.StandingStateError) else 400) from None
    session.commit()
    tell_trips(session, [trip] if trip else [])
    return jsonify(standing.public(session, order))
