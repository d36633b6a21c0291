"""Thin trip log views: the trip list, a trip's log with its replay, the printable report, and their API.

A trip the user may not see answers exactly like a missing one: 404 "no trip with id N".
Exports (tracks, timeline, period CSV, the printable report) are written to the audit log.
"""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup

from app.api import ApiError, json_payload
from app.audit import record
from app.auth import api_roles, page_roles
from app.db import request_session, utcnow
from dispatch import exports, figures, triplog
from dispatch.models import Trip
from dispatch.trips import STATUSES

bp = Blueprint("logs", __name__)
api = Blueprint("logs_api", __name__, url_prefix="/api/v1")

EVERYONE = ("admin", "dispatcher", "escort", "coordinator")
REVIEWERS = ("admin", "dispatcher", "coordinator")   # period figures and exports, notes
DEFAULT_PERIOD_DAYS = 30


def _cfg():
    """Return the app's configuration."""
    return current_app.extensions["escort"].config


def _filters() -> triplog.Filters:
    """Parse the list filters from the query, or answer 400."""
    try:
        return triplog.parse_filters(request.args, tz=_cfg().timezone)
    except triplog.LogError as exc:
        raise ApiError(str(exc)) from None


def _trip(trip_id: int) -> Trip:
    """Return a trip this user may see, or answer 404 as for a missing one."""
    try:
        return triplog.visible_trip(request_session(), g.user, trip_id)
    except LookupError as exc:
        raise ApiError(str(exc), 404) from None


def _period(filters: triplog.Filters) -> triplog.Filters:
    """Return the filters with a period: the given dates, else the last DEFAULT_PERIOD_DAYS days."""
    if filters.date_from and filters.date_to:
        return filters
    today = triplog._day(utcnow().astimezone(_zone()).date().isoformat(), "to", _cfg().timezone) + timedelta(days=1)
    date_to = filters.date_to or today
    date_from = filters.date_from or date_to - timedelta(days=DEFAULT_PERIOD_DAYS)
    return triplog.Filters(date_from, date_to, filters.patient_id, filters.escort, filters.status, filters.had_alerts)


def _zone():
    """Return the service's time zone."""
    from zoneinfo import ZoneInfo

    return ZoneInfo(_cfg().timezone)


def _export(body: str, fmt: str, filename: str, trip_id: int | None, **detail) -> Response:
    """Audit an export and send it as a download."""
    session = request_session()
    record(session, g.user, "export", object_type="trip", object_id=trip_id, detail={"format": fmt, **detail})
    session.commit()
    return Response(body, mimetype=None, headers={
        "Content-Type": exports.MEDIA_TYPES.get(fmt, "application/json"),
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


# --- pages ------------------------------------------------------------------------------------


@bp.route("/trips")
@page_roles(*EVERYONE)
def trip_list():
    """Show the trip list with its filters, and (for reviewers) the period's figures and chart."""
    session = request_session()
    now = utcnow()
    try:
        filters = triplog.parse_filters(request.args, tz=_cfg().timezone)
        rows, next_cursor = triplog.list_trips(session, g.user, filters, after=request.args.get("after") or None,
                                               now=now)
        error = None
    except triplog.LogError as exc:
        filters, rows, next_cursor, error = triplog.Filters(), [], None, str(exc)
    period = None
    # The period's figures head the first page only: paging on does not recount a month of trips.
    if g.user.role in REVIEWERS and error is None and not request.args.get("after"):
        span = _period(filters)
        try:
            days = _days(session, span)
            total = figures.period_figures([]) if not days else _sum(days)
            period = {"filters": span.as_args(_cfg().timezone), "figures": total, "days": days,
                      "chart": Markup(figures.chart_svg(days))}
        except triplog.LogError as exc:
            error = str(exc)
    args = filters.as_args(_cfg().timezone)
    return render_template("logs/list.html", rows=rows, filters=args, statuses=STATUSES, error=error,
                           next_url=url_for("logs.trip_list", **args, after=next_cursor) if next_cursor else None,
                           first_url=url_for("logs.trip_list", **args) if request.args.get("after") else None,
                           period=period, can_review=g.user.role in REVIEWERS)


def _days(session, span: triplog.Filters) -> list:
    """Return the period's figures for every local day of it (raises LogError when too large)."""
    from datetime import date

    args = span.as_args(_cfg().timezone)
    return figures.by_day(triplog.period(session, g.user, span), start=date.fromisoformat(args["from"]),
                          end=date.fromisoformat(args["to"]), tz=_zone())


def _sum(days: list) -> figures.PeriodFigures:
    """Add up per-day figures into the period's."""
    parts = [f for _label, f in days]
    return figures.PeriodFigures(
        trip_count=sum(f.trip_count for f in parts), pickups_measured=sum(f.pickups_measured for f in parts),
        pickups_on_time=sum(f.pickups_on_time for f in parts), arrivals_measured=sum(f.arrivals_measured for f in parts),
        arrivals_on_time=sum(f.arrivals_on_time for f in parts), alert_count=sum(f.alert_count for f in parts),
        ack_times_s=tuple(s for f in parts for s in f.ack_times_s))


def _page_trip(trip_id: int) -> Trip:
    """Return a trip this user may see, or a 404 page."""
    try:
        return triplog.visible_trip(request_session(), g.user, trip_id)
    except LookupError as exc:
        abort(404, description=str(exc))


@bp.route("/trips/<int:trip_id>")
@page_roles(*EVERYONE)
def trip_log(trip_id: int):
    """Show a trip's log: heading, figures, timeline and the replay (filled in by replay.js)."""
    session = request_session()
    trip = _page_trip(trip_id)
    cfg = _cfg()
    head = triplog.header(session, trip, g.user, now=utcnow())
    return render_template("logs/trip.html", trip=head, can_note=g.user.role in REVIEWERS,
                           tile_url=cfg.tile_url, tile_attribution=cfg.tile_attribution)


@bp.route("/trips/<int:trip_id>/report")
@page_roles(*EVERYONE)
def trip_report(trip_id: int):
    """Show the printable trip report (an export: audited)."""
    session = request_session()
    trip = _page_trip(trip_id)
    data = triplog.replay(session, trip, g.user, now=utcnow())
    track = triplog.load_track(session, trip.id)
    figs = triplog.trip_figures(session, trip, track, user=g.user)
    sketch = Markup(exports.track_sketch_svg(trip.route or [], track, figs.off_route, figs.stops))
    record(session, g.user, "export", object_type="trip", object_id=trip.id, detail={"format": "report"})
    session.commit()
    return render_template("logs/report.html", data=data, trip=data["trip"], f=data["figures"],
                           sketch=sketch, printed_at=utcnow())


# --- API --------------------------------------------------------------------------------------


@api.get("/trips")
@api_roles(*EVERYONE)
def list_trips_api():
    """List trips with filters, latest first; ``after`` is the cursor of the next page."""
    filters = _filters()
    limit = request.args.get("limit", "")
    if limit and not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= triplog.MAX_PAGE_SIZE):
        raise ApiError(f"limit must be a whole number from 1 to {triplog.MAX_PAGE_SIZE}")
    try:
        rows, cursor = triplog.list_trips(request_session(), g.user, filters, after=request.args.get("after") or None,
                                          limit=int(limit) if limit else triplog.PAGE_SIZE, now=utcnow())
    except triplog.LogError as exc:
        raise ApiError(str(exc)) from None
    return jsonify({"trips": rows, "next": cursor})


@api.get("/trips/figures")
@api_roles(*REVIEWERS)
def period_figures_api():
    """Return the period's figures (from and to, default the last 30 days) in total and by day."""
    session = request_session()
    span = _period(_filters())
    try:
        days = _days(session, span)
    except triplog.LogError as exc:
        raise ApiError(str(exc)) from None
    total = _sum(days) if days else figures.period_figures([])
    return jsonify({"period": span.as_args(_cfg().timezone), "figures": total.as_dict(),
                    "by_day": [{"day": label, **f.as_dict()} for label, f in days]})


@api.get("/trips.csv")
@api_roles(*REVIEWERS)
def trips_csv():
    """Export the trip records of a period (from and to required) as CSV."""
    session = request_session()
    filters = _filters()
    try:
        trips = triplog.period_trips(session, g.user, filters)
    except triplog.LogError as exc:
        raise ApiError(str(exc)) from None
    body = exports.trips_csv(triplog.records(session, g.user, trips, now=utcnow()))
    args = filters.as_args(_cfg().timezone)
    return _export(body, "csv", f"trips-{args['from']}-{args['to']}.csv", None, period=args, count=len(trips))


@api.get("/trips/<int:trip_id>/timeline")
@api_roles(*EVERYONE)
def timeline_api(trip_id: int):
    """Return the trip's timeline in time order (an export: audited)."""
    session = request_session()
    trip = _trip(trip_id)
    show = triplog.header(session, trip, g.user, now=utcnow())["show_patient"]
    items = triplog.timeline(session, trip, user=g.user, show_patient=show, track=triplog.load_track(session, trip.id))
    record(session, g.user, "export", object_type="trip", object_id=trip.id, detail={"format": "timeline"})
    session.commit()
    return jsonify({"trip_id": trip.id, "timeline": items})


@api.get("/trips/<int:trip_id>/replay")
@api_roles(*EVERYONE)
def replay_api(trip_id: int):
    """Return what the replay needs: track, planned route, off-route stretches, stops, timeline, figures."""
    session = request_session()
    trip = _trip(trip_id)
    data = triplog.replay(session, trip, g.user, now=utcnow())
    # Opening a trip's log reads its track and timeline: audited like the exports.
    record(session, g.user, "trip_read", object_type="trip", object_id=trip.id, detail={"view": "replay"})
    session.commit()
    return jsonify(data)


@api.get("/trips/<int:trip_id>/figures")
@api_roles(*EVERYONE)
def trip_figures_api(trip_id: int):
    """Return one trip's figures."""
    session = request_session()
    trip = _trip(trip_id)
    track = triplog.load_track(session, trip.id)
    events = triplog.known_events(session, trip.id, g.user)
    figs = triplog.trip_figures(session, trip, track, user=g.user, trip_events=events)
    return jsonify(triplog.figures_or_summary(figs, track, events))


@api.get("/trips/<int:trip_id>/track.<fmt>")
@api_roles(*EVERYONE)
def track_export(trip_id: int, fmt: str):
    """Export the trip's recorded track as GPX, CSV or GeoJSON (audited)."""
    if fmt not in exports.MEDIA_TYPES:
        raise ApiError(f"no track format {fmt[:20]!r}; one of gpx, csv, geojson", 404)
    session = request_session()
    trip = _trip(trip_id)
    track = triplog.load_track(session, trip.id)
    if fmt == "gpx":
        body = exports.track_gpx(trip.id, track)
    elif fmt == "csv":
        body = exports.track_csv(track)
    else:
        body = exports.track_geojson_text(trip.id, track)
    return _export(body, fmt, f"trip-{trip.id}-track.{fmt}", trip.id, fixes=len(track))


@api.post("/trips/<int:trip_id>/notes")
@api_roles(*REVIEWERS)
def add_note(trip_id: int):
    """Add a note to the trip's log: ``{"text"}``."""
    body = json_payload()
    if not isinstance(body, dict):
        raise ApiError("the body must be a JSON object")
    session = request_session()
    trip = _trip(trip_id)
    try:
        event = triplog.add_note(session, trip, g.user, body.get("text"), now=utcnow())
    except triplog.LogError as exc:
        raise ApiError(str(exc)) from None
    session.commit()
    item = triplog.timeline(session, trip, user=g.user, show_patient=False, events=[event])[0]
    return jsonify(item), 201
