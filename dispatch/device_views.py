"""Thin device views: the escort's tablet page and the HTTP ingest endpoints (trackers), above tracking and dispatch."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request, send_from_directory
from flask_login import current_user

from app.api import ApiError, json_payload
from app.auth import bearer_token, page_roles
from app.db import DB_DOWN, request_session, utcnow
from dispatch import ingest, present, service, trips, vouchers
from tracking import devices
from tracking.protocols import ProtocolError, decode_osmand_json, decode_osmand_query, decode_owntracks
from tracking.schemas import MAX_BATCH, batch_too_large
from dispatch.device_sockets import DB_DOWN_ERROR

bp = Blueprint("tracking", __name__)


def _database_away(_exc):
    """Answer 503 with Retry-After while the database is away: trackers keep the fix and send it again."""
    return jsonify(error=DB_DOWN_ERROR, retry=True), 503, {"Retry-After": "5"}


for _away in DB_DOWN:
    bp.register_error_handler(_away, _database_away)


@bp.route("/escort")
@page_roles("escort")
def escort_page():
    """Show the escort's tablet: their trip, status buttons, GPS streaming."""
    session = request_session()
    trip = trips.current_trip_for_escort(session, current_user)
    # The page's escort and a voucher for their panics: what this tablet queues is sent as theirs only.
    voucher = vouchers.issue(current_app.config["SECRET_KEY"], current_user.id)
    cfg = current_app.extensions["escort"].config
    return render_template("escort/tablet.html", trip=present.trip_for_escort(session, trip),
                           status_labels=trips.STATUS_LABELS, pins_set=bool(current_user.safe_pin_hash),
                           user_id=current_user.id, panic_voucher=voucher,
                           tile_url=cfg.tile_url, tile_attribution=cfg.tile_attribution)


@bp.app_context_processor
def _help_numbers() -> dict:
    """Give every page the tablet's phone numbers: the help dock shows them on each escort screen."""
    cfg = current_app.extensions["escort"].config
    return {"dispatch_phone": cfg.dispatch_phone, "emergency_number": cfg.emergency_number}


@bp.route("/escort/manifest.webmanifest")
def escort_manifest():
    """Serve the tablet's web app manifest, so the page installs to the home screen."""
    resp = send_from_directory(current_app.static_folder, "manifest.webmanifest",
                               mimetype="application/manifest+json")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.route("/escort-sw.js")
def escort_service_worker():
    """Serve the tablet's service worker from the site root, so it may control /escort."""
    resp = send_from_directory(current_app.static_folder, "js/escort-sw.js", mimetype="application/javascript")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


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
    if len(data) > MAX_BATCH:  # refused whole, so the device knows to split it rather than drop it
        raise ApiError(batch_too_large(len(data)), 413)
    ext = current_app.extensions["escort"]
    result = ingest.accept_payloads(session, device, data, now=utcnow(), limits=ext.limits,
                                    trip_cache=ext.active_trips, zone_cache=ext.zones)
    return jsonify(accepted=result.accepted, rejected=result.rejected)


def _ingest_decoded(session, device, decoded) -> ingest.IngestResult:
    """Store decoded fixes through the common pipeline; an alarm=sos is a panic."""
    ext = current_app.extensions["escort"]
    now = utcnow()
    result = ingest.accept(session, device, decoded.fixes, now=now, limits=ext.limits,
                           trip_cache=ext.active_trips, zone_cache=ext.zones)
    if decoded.alarm == "sos":
        last = decoded.fixes[-1] if decoded.fixes else None
        service.panic(session, device, {"lat": last.lat, "lon": last.lon} if last else {}, now=now)
    return result


# strict_slashes=False: "/osmand/" and "/owntracks/" are the same endpoints. A tracker whose URL
# ends in a slash would otherwise get 404s, which it retries for ever while tracking stops.
@bp.route("/osmand", methods=["GET", "POST"], strict_slashes=False)
def osmand():
    """Take the OsmAnd protocol: a query (Traccar Client, or the app its ``app=`` names), or Traccar Client 9's JSON."""
    session = request_session()
    device = _query_device(session)  # before the body is read: a stranger's body is never parsed
    try:
        if request.is_json:
            decoded = decode_osmand_json(request.get_json(silent=True), now=utcnow())
        else:
            decoded = decode_osmand_query(request.values, now=utcnow())
    except ProtocolError as exc:
        raise ApiError(str(exc)) from None
    if device is None:
        device = devices.device_for_token(session, decoded.device_key)
    if device is None:
        raise ApiError("unknown device", 400)  # what Traccar answers; nothing is stored
    result = _ingest_decoded(session, device, decoded)
    _log_refused(device, result)
    return "", 200


def _query_device(session):
    """Return the device named by the query's ``id`` (or ``deviceid``), None when the query names none."""
    key = (request.args.get("id") or request.args.get("deviceid") or "").strip()
    if not key:
        return None  # the JSON form carries its device_id in the (small, bounded) body
    device = devices.device_for_token(session, key)
    if device is None:
        raise ApiError("unknown device", 400)
    return device


@bp.post("/owntracks", strict_slashes=False)
def owntracks():
    """Take OwnTracks in HTTP mode: Basic auth (device label, device token); answers ``[]``."""
    session = request_session()
    auth = request.authorization
    device = devices.device_for_token(session, auth.password if auth else None)
    if device is None or auth.username != device.label:
        return jsonify(error="HTTP Basic auth with the device label and token is required"), 401, {
            "WWW-Authenticate": 'Basic realm="escort-dispatch"'}
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise ApiError("the body must be OwnTracks JSON")
    try:
        decoded = decode_owntracks(body, topic_user=auth.username)
    except ProtocolError as exc:
        raise ApiError(str(exc)) from None
    result = _ingest_decoded(session, device, decoded)
    _log_refused(device, result)
    return jsonify([])


def _log_refused(device, result) -> None:
    """Log fixes that were well formed but refused (too old, in the future).

    The Traccar Client and OwnTracks resend a request until it gets a 200, and the same fix
    would be refused again for ever, holding back the fixes queued behind it. So a refusal of
    a well-formed fix is answered 200, logged here and counted in /metrics
    (escort_fixes_rejected_total); a malformed request is still a 400.
    """
    for refused in result.rejected:
        current_app.logger.warning("device %s: fix %s refused: %s", device.label, refused.get("seq"),
                                   refused.get("error"))
