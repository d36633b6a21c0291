"""Thin dispatch views: the live map page and the trip and alert REST endpoints."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, render_template, request
from sqlalchemy import or_

from app.api import ApiError, id_arg, json_payload, parse
from app.auth import api_roles, page_roles, request_user
from app.db import request_session, utcnow
from dispatch import access, alerts, flags, present, routes, service, trip_places, trip_watch, trips, vouchers, zones
from dispatch.models import Alert, Trip
from dispatch.schemas import (
    AlertResolve,
    FlagCreate,
    FlagPatch,
    RouteCompute,
    StatusChange,
    TripCreate,
    ZoneCreate,
    ZonePatch,
)
from dispatch.settings import validate_settings
from places.views import located
from tracking.gpxio import read_gpx, route_from_geojson

bp = Blueprint("dispatch", __name__)
api = Blueprint("dispatch_api", __name__, url_prefix="/api/v1")

STAFF = ("admin", "dispatcher")
WATCHERS = ("admin", "dispatcher", "coordinator")


@bp.route("/dispatch")
@page_roles(*STAFF)
def live_map():
    """Show the live map (dispatchers and admins: it shows every patient's pickup and position)."""
    cfg = current_app.extensions["escort"].config
    return render_template("dispatch/map.html", tile_url=cfg.tile_url, tile_attribution=cfg.tile_attribution)


@bp.route("/dispatch/trips/<int:trip_id>")
@page_roles(*WATCHERS)
def trip_page(trip_id: int):
    """Show one trip live: position and track, route, alerts, timeline and notes; dispatchers act on it."""
    from flask import abort

    session = request_session()
    trip = session.get(Trip, trip_id)
    if trip is None or not access.can_see_trip(session, g.user, trip):
        abort(404)
    cfg = current_app.extensions["escort"].config
    can_act = g.user.role in STAFF
    data = trip_watch.page_data(session, trip, g.user, can_act=can_act, now=utcnow())
    return render_template("dispatch/trip.html", trip=data["trip"], data=data, can_edit=can_act,
                           tile_url=cfg.tile_url, tile_attribution=cfg.tile_attribution,
                           public_url=cfg.public_url, link_minutes=cfg.responder_link_minutes)


def _trip_or_404(trip_id: int) -> Trip:
    """Return the trip, or answer 404 when there is none or this user may not see it."""
    return access.visible_trip(request_session(), g.user, trip_id)


@api.post("/trips")
@api_roles(*STAFF)
def create_trip():
    """Create a trip with its geofences, planned route and settings."""
    body = parse(TripCreate)
    try:
        route = route_from_geojson(body.route) if body.route is not None else []
        settings = validate_settings(body.settings)
    except ValueError as exc:
        raise ApiError(str(exc)) from None
    # Addresses are geocoded before anything is stored: an ambiguous one answers its candidates.
    pickup, dropoff = located(body.pickup, "pickup"), located(body.dropoff, "dropoff")
    allowed_stops = [located(p, f"allowed_stops.{i}") for i, p in enumerate(body.allowed_stops)]
    computed, routing = None, None
    if body.route is None:  # asked before the trip is written: no transaction waits on the router
        router = current_app.extensions["escort"].router
        computed, routing = routes.compute(router, routes.waypoints(pickup, dropoff, allowed_stops))
    session = request_session()
    # Places given by lat and lon get their words too (cache, else geocoder), before the trip is written.
    named = trip_places.name_places(session, current_app.extensions["escort"].geocoder,
                                    trip_places.places_of(pickup, dropoff, allowed_stops), now=utcnow())
    try:
        trip = trips.create_trip(
            session, patient_id=body.patient_id, escort=body.escort, device_id=body.device_id,
            pickup=pickup, dropoff=dropoff, route=[[lat, lon] for lat, lon in route], settings=settings,
            allowed_stops=allowed_stops,
            scheduled_pickup_at=body.scheduled_pickup_at, appointment_at=body.appointment_at,
            user=g.user, now=utcnow(),
        )
    except trips.TripError as exc:
        raise ApiError(str(exc)) from None
    if computed is not None:
        routes.store(session, trip, computed, routing["router"], now=trip.created_at)
    elif body.route is not None:
        trip.route_source = "upload"
    warnings = service.plan_warnings(session, trip, tz=current_app.extensions["escort"].config.timezone)
    session.commit()
    payload = present.trip_public(session, trip)
    from app import realtime

    realtime.emit_trip(payload, present.trip_for_escort(session, trip), trip.escort_user_id)
    extra = {"routing": routing} if routing is not None else {}
    if named.missing:
        extra["geocoding"] = named.public()
    return jsonify({**payload, "warnings": warnings, **extra}), 201


@api.get("/trips/<int:trip_id>")
@api_roles(*WATCHERS)
def get_trip(trip_id: int):
    """Return a trip with its last fix and open alerts."""
    session = request_session()
    trip = _trip_or_404(trip_id)
    now = utcnow()
    payload = present.trip_public(session, trip, now=now)
    payload["doses_before_eta"] = service.doses_before_arrival(
        session, trip, now=now, tz=current_app.extensions["escort"].config.timezone)
    payload["alerts"] = [alerts.public(a) for a in alerts.open_alerts(session, trip.id)
                         if alerts.may_know(g.user, a.kind)]
    payload["allowed_next"] = trips.allowed_next(trip, g.user.role) if g.user.role in STAFF else []
    return jsonify(payload)


@api.post("/trips/<int:trip_id>/status")
@api_roles("admin", "dispatcher", "escort")
def change_status(trip_id: int):
    """Move a trip to its next status (an escort only their own trip)."""
    session = request_session()
    trip = _trip_or_404(trip_id)  # before the body: a refusal must not tell whether the trip exists
    body = parse(StatusChange)
    try:
        service.set_status(session, trip, body.status, g.user, now=utcnow(), pin=body.pin, reason=body.reason)
    except trips.TripError as exc:
        raise ApiError(str(exc), 409) from None
    if g.user.role == "escort":
        return jsonify(present.trip_for_escort(session, trip))
    return jsonify(present.trip_public(session, trip))


@api.get("/alerts")
@api_roles(*WATCHERS)
def list_alerts():
    """List alerts, optionally of one trip; ``open=1`` the unresolved ones, ``unseen=1`` also those that cleared unseen."""
    from sqlmodel import select

    session = request_session()
    query = select(Alert).where(alerts.known_to(g.user)).order_by(Alert.raised_at.desc()).limit(500)
    if g.user.role not in STAFF:
        query = query.join(Trip, Alert.trip_id == Trip.id).where(access.trip_filter(g.user))
    trip_id = id_arg("trip_id")
    if trip_id is not None:
        query = query.where(Alert.trip_id == trip_id)
    if request.args.get("unseen") in ("1", "true"):
        query = query.where(or_(Alert.resolved_at.is_(None), alerts.unseen_clause()))
    elif request.args.get("open") in ("1", "true"):
        query = query.where(Alert.resolved_at.is_(None))
    return jsonify([alerts.public(a) for a in session.exec(query).all()])


def _alert_or_404(alert_id: int) -> Alert:
    """Return the alert or answer 404."""
    alert = request_session().get(Alert, alert_id)
    if alert is None:
        raise ApiError(f"no alert with id {alert_id}", 404)
    return alert


@api.post("/alerts/<int:alert_id>/ack")
@api_roles(*STAFF)
def ack_alert(alert_id: int):
    """Acknowledge an alert."""
    try:
        return jsonify(service.acknowledge(request_session(), _alert_or_404(alert_id), g.user, now=utcnow()))
    except alerts.AlertError as exc:
        raise ApiError(str(exc), 409) from None


@api.post("/alerts/<int:alert_id>/resolve")
@api_roles(*STAFF)
def resolve_alert(alert_id: int):
    """Resolve an alert with a category and a note."""
    alert = _alert_or_404(alert_id)
    body = parse(AlertResolve)
    try:
        return jsonify(service.resolve(request_session(), alert, g.user, category=body.category,
                                       note=body.note, now=utcnow()))
    except alerts.AlertError as exc:
        raise ApiError(str(exc), 409 if alert.resolved_at else 400) from None


@api.post("/queued-panics")
def queued_panic():
    """Raise a panic a shared tablet queued for an escort now logged out; the voucher is the credential."""
    try:
        vouchers.redeem(request_session(), current_app.config["SECRET_KEY"], json_payload(),
                        sender=request_user(), now=utcnow())
    except vouchers.VoucherError as exc:
        raise ApiError(str(exc), 403) from None
    return jsonify(ok=True)


@api.post("/hazard-zones")
@api_roles(*STAFF)
def create_zone():
    """Create a hazard zone from a GeoJSON Polygon; trips entering it raise ``hazard_zone``."""
    body = parse(ZoneCreate)
    session = request_session()
    try:
        zone = zones.create_zone(session, name=body.name, reason=body.reason, polygon=body.polygon,
                                 expires_at=body.expires_at, user=g.user, now=utcnow(), via="api")
    except zones.ZoneError as exc:
        raise ApiError(str(exc)) from None
    session.commit()
    _places_changed()
    return jsonify(zones.public(zone)), 201


@api.get("/hazard-zones")
@api_roles(*WATCHERS)
def list_zones():
    """List the hazard zones in force."""
    return jsonify([zones.public(z) for z in zones.active_zones(request_session(), utcnow())])


def _zone_or_404(zone_id: int):
    """Return the active zone, or answer 404."""
    zone = zones.active_zone(request_session(), zone_id)
    if zone is None:
        raise ApiError(f"no active hazard zone with id {zone_id}", 404)
    return zone


def _places_changed() -> None:
    """Detect with the changed places from this process's next fix, and redraw them on every open live map."""
    service.places_changed(request_session(), now=utcnow())


@api.patch("/hazard-zones/<int:zone_id>")
@api_roles(*STAFF)
def patch_zone(zone_id: int):
    """Change a hazard zone's name, reason, polygon or expiry; trips re-check it at their next fix."""
    body = parse(ZonePatch)
    session = request_session()
    zone = _zone_or_404(zone_id)
    try:
        zones.update_zone(session, zone, body.model_dump(exclude_unset=True), user=g.user, now=utcnow(), via="api")
    except zones.ZoneError as exc:
        raise ApiError(str(exc)) from None
    session.commit()
    _places_changed()
    return jsonify(zones.public(zone))


@api.delete("/hazard-zones/<int:zone_id>")
@api_roles(*STAFF)
def retire_zone(zone_id: int):
    """Retire a hazard zone (kept for the record, no longer in force)."""
    session = request_session()
    zones.retire_zone(session, _zone_or_404(zone_id), user=g.user, now=utcnow(), via="api")
    session.commit()
    _places_changed()
    return "", 204


@api.put("/trips/<int:trip_id>/route")
@api_roles(*STAFF)
def put_route(trip_id: int):
    """Replace a trip's planned route: a GeoJSON LineString, or a GPX file (body or form upload)."""
    session = request_session()
    trip = _trip_or_404(trip_id)
    upload = request.files.get("file")
    note = None
    try:
        if upload is not None:
            read = read_gpx(upload.read(2_000_001))
            points, note = read.points, read.note
        elif request.mimetype in ("application/gpx+xml", "application/xml", "text/xml"):
            read = read_gpx(request.get_data(cache=False)[:2_000_001])
            points, note = read.points, read.note
        else:
            from app.api import json_payload

            points = route_from_geojson(json_payload())
    except ValueError as exc:
        raise ApiError(str(exc)) from None
    routes.replace_by_upload(trip, points, now=utcnow())
    session.add(trip)
    session.commit()
    payload = present.trip_public(session, trip)
    from app import realtime

    realtime.emit_trip(payload, present.trip_for_escort(session, trip), trip.escort_user_id)
    # What the file gave: "joined 3 tracks, 296 points" (null for GeoJSON, which has one line).
    return jsonify({**payload, "route_note": note})


@api.post("/trips/<int:trip_id>/route")
@api_roles(*STAFF)
def compute_route(trip_id: int):
    """Ask the router again for a trip's road route, pickup → allowed stops → drop-off.

    When the router fails the planned route is left as it was and the answer says why: 409 when
    no road joins the places, 503 when the router is down or slow.
    """
    trip = _trip_or_404(trip_id)
    parse(RouteCompute)
    route, routing = routes.compute(current_app.extensions["escort"].router, routes.trip_waypoints(trip))
    if route is None:
        status = 409 if routing["reason"] == "no_road_route" else 503
        return jsonify({"error": routing["error"], "routing": routing}), status
    session = request_session()
    routes.store(session, trip, route, routing["router"], now=utcnow())
    session.commit()
    payload = present.trip_public(session, trip)
    from app import realtime

    realtime.emit_trip(payload, present.trip_for_escort(session, trip), trip.escort_user_id)
    return jsonify({**payload, "routing": routing})


@api.post("/flagged-places")
@api_roles(*STAFF)
def create_flag():
    """Flag an address or an area with a reason and an expiry; trips touching it are warned."""
    body = parse(FlagCreate)
    session = request_session()
    try:
        place = flags.create(session, label=body.label, category=body.category, reason=body.reason,
                             point=located(body.point, "point") if body.point else None, polygon=body.polygon,
                             expires_at=body.expires_at, user=g.user, now=utcnow(), via="api")
    except flags.FlagError as exc:
        raise ApiError(str(exc)) from None
    session.commit()
    _places_changed()
    return jsonify(flags.public(place)), 201


@api.get("/flagged-places")
@api_roles(*STAFF)
def list_flags():
    """List the flagged places in force."""
    return jsonify([flags.public(p) for p in flags.in_force(request_session(), utcnow())])


def _flag_or_404(flag_id: int):
    """Return the active flagged place, or answer 404."""
    place = flags.active(request_session(), flag_id)
    if place is None:
        raise ApiError(f"no active flagged place with id {flag_id}", 404)
    return place


@api.patch("/flagged-places/<int:flag_id>")
@api_roles(*STAFF)
def patch_flag(flag_id: int):
    """Change a flagged place's label, category, reason, point or polygon, or expiry."""
    body = parse(FlagPatch)
    session = request_session()
    place = _flag_or_404(flag_id)
    changes = body.model_dump(exclude_unset=True, exclude={"point"})
    if body.point is not None:
        changes["point"] = located(body.point, "point")
    if None in (changes.get(k, "") for k in ("label", "category", "reason", "expires_at")):
        raise ApiError("label, category, reason and expires_at cannot be null")
    try:
        flags.update(session, place, changes, user=g.user, now=utcnow(), via="api")
    except flags.FlagError as exc:
        raise ApiError(str(exc)) from None
    session.commit()
    _places_changed()
    return jsonify(flags.public(place))


@api.delete("/flagged-places/<int:flag_id>")
@api_roles(*STAFF)
def retire_flag(flag_id: int):
    """Retire a flagged place (kept for the record, no longer warned about)."""
    session = request_session()
    flags.retire(session, _flag_or_404(flag_id), user=g.user, now=utcnow(), via="api")
    session.commit()
    _places_changed()
    return "", 204
