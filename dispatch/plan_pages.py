"""Dispatcher pages for the day's work: the board, the trip form, trip actions and standing orders."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlmodel import select

from app import realtime
from app.auth import page_roles
from app.db import request_session, utcnow
from app.models import User
from dispatch import board, planning, present, routes, service, standing, trip_form, trip_places, trips
from dispatch.models import StandingOrder, Trip
from patients.models import Patient

pages = Blueprint("plan", __name__)

STAFF = ("admin", "dispatcher")


def tz() -> str:
    """Return the dispatch office's time zone (days and form times are local to it)."""
    return current_app.extensions["escort"].config.timezone


def local_today(now: datetime) -> datetime.date:
    """Return today's date in the office's zone."""
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(tz())).date()


@pages.route("/dispatch/board")
@page_roles(*STAFF)
def board_page():
    """Show a day's trips grouped by state (today unless ``date`` names another), updated live."""
    now = utcnow()
    error = None
    try:
        day = board.parse_day(request.args.get("date"), today=local_today(now))
    except board.BoardError as exc:
        day, error = local_today(now), str(exc)
    rows = board.day_rows(request_session(), day, tz=tz(), user=g.user, now=now)
    for r in rows:
        late = board.lateness_s(r, now=now)
        r["late_min"] = round(late / 60) if late is not None and late >= 60 else None
    escorts = sorted({r["escort"] for r in rows if r["escort"]})
    start, end = board.day_bounds(day, tz())
    page = {"day": day.isoformat(), "day_start": start.isoformat(), "day_end": end.isoformat(),
            "status_words": board.STATUS_WORDS, "group_of": board.GROUP_OF, "rows": rows}
    return render_template("dispatch/board.html", day=day, groups=board.grouped(rows), escorts=escorts,
                           statuses=board.GROUPS, error=error, page=page), 400 if error else 200


# ---- the trip form ------------------------------------------------------------------------------


def _form_context(session, raw: dict, errors: dict, *, trip=None) -> dict:
    """Return what the trip form template needs: patients to pick from, escorts with who is free, defaults."""
    patients = session.exec(select(Patient).order_by(Patient.name).limit(2000)).all()
    start = None
    try:
        start = trip_form.parse_local(raw.get("pickup_time", ""), tz()) if raw.get("pickup_time") else None
    except ValueError:
        start = None
    escorts = planning.escort_choices(session, start or utcnow(), except_trip=trip.id if trip else None)
    if raw.get("escort") and raw["escort"] not in {e["username"] for e in escorts}:
        escorts.append({"username": raw["escort"], "free": False, "busy_with": None})
    cfg = current_app.extensions["escort"].config
    return {"raw": raw, "errors": errors, "trip": trip, "tz": tz(),
            "patients": [trip_form.patient_label(p) for p in patients], "escorts": escorts,
            "setting_fields": trip_form.SETTING_FIELDS, "defaults": trip_form.setting_defaults(),
            "stop_rows": trip_form.stop_rows(raw),
            "page": {"tile_url": cfg.tile_url, "tile_attribution": cfg.tile_attribution,
                     "trip_id": trip.id if trip else None}}


@pages.route("/dispatch/trips/new", methods=["GET", "POST"])
@page_roles(*STAFF)
def new_trip_page():
    """Plan a trip: patient, pickup and drop-off (map clicks or lat/lon), times, escort, stops, settings."""
    session = request_session()
    if request.method == "GET":
        raw = {"patient": request.args.get("patient", "")}
        return render_template("dispatch/trip_form.html", **_form_context(session, raw, {}))
    form = trip_form.read(session, request.form.to_dict(), tz=tz())
    trip, computed, routing = None, None, None
    if form.ok:
        v = form.values
        # The road route, asked before the trip is written (no transaction waits on the router).
        computed, routing = routes.compute(current_app.extensions["escort"].router,
                                           routes.waypoints(v["pickup"], v["dropoff"], v["allowed_stops"]))
        # A pin's words the page had not yet received (the form sent meanwhile) are found here.
        named = _name_places(session, v["pickup"], v["dropoff"], v["allowed_stops"])
        try:
            trip = trips.create_trip(
                session, patient_id=v["patient_id"], escort=v["escort"], device_id=None,
                pickup=v["pickup"], dropoff=v["dropoff"], route=[], settings=v["settings"],
                allowed_stops=v["allowed_stops"], scheduled_pickup_at=v["pickup_time"],
                appointment_at=v["appointment_time"], user=g.user, now=utcnow())
        except trips.TripError as exc:
            session.rollback()
            form.errors[_field_of(str(exc))] = str(exc)
    if not form.ok:
        return render_template("dispatch/trip_form.html", **_form_context(session, form.raw, form.errors)), 400
    if computed is not None:
        routes.store(session, trip, computed, routing["router"], now=trip.created_at)
    warnings = service.plan_warnings(session, trip, tz=tz())
    session.commit()
    realtime.emit_trip(present.trip_public(session, trip), present.trip_for_escort(session, trip), trip.escort_user_id)
    flash(f"Trip {trip.id} planned" + (f" with {len(warnings)} warning(s): see its timeline" if warnings else ".")
          + ("" if computed is not None else f" No road route: {routing['error']}.")
          + (f" {named.words()}" if named.words() else ""))
    return redirect(url_for("dispatch.trip_page", trip_id=trip.id))


def _name_places(session, pickup: dict | None, dropoff: dict | None, stops: list | None) -> trip_places.Named:
    """Give the form's places without words the nearest address (cache, else geocoder) before anything is written."""
    return trip_places.name_places(session, current_app.extensions["escort"].geocoder,
                                   trip_places.places_of(pickup, dropoff, stops), now=utcnow())


def _field_of(message: str) -> str:
    """Return the form field a service's refusal is about."""
    for word, name in (("escort", "escort"), ("appointment", "appointment_time"), ("pickup", "pickup_time"),
                       ("patient", "patient")):
        if word in message:
            return name
    return "form"


def _staff_trip(trip_id: int) -> Trip:
    """Return the trip, or 404."""
    trip = request_session().get(Trip, trip_id)
    if trip is None:
        abort(404)
    return trip


@pages.route("/dispatch/trips/<int:trip_id>/edit", methods=["GET", "POST"])
@page_roles(*STAFF)
def edit_trip_page(trip_id: int):
    """Change a trip's places, times, escort, stops or settings (what its state allows)."""
    session = request_session()
    trip = _staff_trip(trip_id)
    patient = session.get(Patient, trip.patient_id)
    escort = session.get(User, trip.escort_user_id).username if trip.escort_user_id else None
    current = trip_form.from_trip(trip, patient, escort, tz=tz())
    if trip.status in trips.TERMINAL:
        flash(f"Trip {trip.id} is {trip.status.replace('_', ' ')}: it can no longer be changed.")
        return redirect(url_for("dispatch.trip_page", trip_id=trip.id))
    if request.method == "GET":
        return render_template("dispatch/trip_form.html", **_form_context(session, current, {}, trip=trip))
    form = trip_form.read(session, request.form.to_dict(), tz=tz())
    if form.ok:
        if form.values["patient_id"] != trip.patient_id:
            form.errors["patient"] = "A trip's patient cannot change: plan a new trip for another patient"
        changes = _changes(form, current)
        named = trip_places.Named([], None)
        if not form.errors and changes:
            named = _name_places(session, changes.get("pickup"), changes.get("dropoff"), changes.get("allowed_stops"))
            try:
                service.edit_trip(session, trip, changes, g.user, now=utcnow())
            except trips.TripError as exc:
                session.rollback()
                form.errors[_field_of(str(exc))] = str(exc)
    if not form.ok:
        return render_template("dispatch/trip_form.html",
                               **_form_context(session, form.raw, form.errors, trip=trip)), 400
    flash((f"Trip {trip.id} saved." + (f" {named.words()}" if named.words() else "")) if changes
          else f"Trip {trip.id}: nothing changed.")
    return redirect(url_for("dispatch.trip_page", trip_id=trip.id))


def _changes(form: trip_form.TripForm, current: dict) -> dict:
    """Return the PATCH changes of the fields the dispatcher changed on the edit form."""
    raw, v, changes = form.raw, form.values, {}
    if raw.get("escort", "") != current["escort"]:
        changes["escort"] = v["escort"]
    for end in ("pickup", "dropoff"):
        if any(float(raw[f"{end}_{k}"]) != float(current[f"{end}_{k}"]) for k in ("lat", "lon")):
            changes[end] = v[end]
    if raw.get("pickup_time") != current["pickup_time"]:
        changes["scheduled_pickup_at"] = v["pickup_time"]
    if raw.get("appointment_time", "") != current["appointment_time"]:
        changes["appointment_at"] = v["appointment_time"]
    before = trip_form.TripForm(raw=current)
    trip_form.read_stops(before)
    if v["allowed_stops"] != before.values.get("allowed_stops"):
        changes["allowed_stops"] = v["allowed_stops"]
    if any(raw.get(f"setting_{k}", "").strip() != current[f"setting_{k}"] for k, _ in trip_form.SETTING_FIELDS):
        # The form shows every setting: one left empty goes back to its default.
        changes["settings"] = {**{k: None for k, _ in trip_form.SETTING_FIELDS}, **v["settings"]}
    return changes


# ---- actions on the dispatcher's trip page ------------------------------------------------------


@pages.app_template_global()
def trip_actions(trip_id: int) -> dict:
    """Return what the trip page's action block shows: may it be reassigned, cancelled; who could take it."""
    session = request_session()
    trip = session.get(Trip, trip_id)
    if trip is None or trip.status in trips.TERMINAL:
        return {"open": False}
    start = max(trip.scheduled_pickup_at, utcnow()) if trip.status in trips.ACTIVE else trip.scheduled_pickup_at
    return {"open": True, "status": trip.status, "can_cancel": "cancelled" in trips.TRANSITIONS[trip.status],
            "escorts": [e for e in planning.escort_choices(session, start, trip.appointment_at, except_trip=trip.id)
                        if e["username"] != (session.get(User, trip.escort_user_id).username
                                             if trip.escort_user_id else None)]}


@pages.post("/dispatch/trips/<int:trip_id>/reassign")
@page_roles(*STAFF)
def reassign_action(trip_id: int):
    """Give the trip to the escort chosen on the trip page."""
    session = request_session()
    trip = _staff_trip(trip_id)
    name = request.form.get("escort", "").strip()
    if not name:
        flash("Choose the escort who takes the trip over.")
        return redirect(url_for("dispatch.trip_page", trip_id=trip.id) + "#trip-actions")
    try:
        service.edit_trip(session, trip, {"escort": name}, g.user, now=utcnow())
    except trips.TripError as exc:
        session.rollback()
        flash(f"Not reassigned: {exc}")
    else:
        flash(f"Trip {trip.id} reassigned to {name}.")
    return redirect(url_for("dispatch.trip_page", trip_id=trip.id))


@pages.post("/dispatch/trips/<int:trip_id>/cancel")
@page_roles(*STAFF)
def cancel_action(trip_id: int):
    """Cancel the trip with the reason given on the trip page."""
    session = request_session()
    trip = _staff_trip(trip_id)
    reason = request.form.get("reason", "").strip()[:500]
    if not reason:
        flash("Not cancelled: say why the trip is cancelled.")
        return redirect(url_for("dispatch.trip_page", trip_id=trip.id) + "#trip-actions")
    try:
        service.set_status(session, trip, "cancelled", g.user, now=utcnow(), reason=reason)
    except trips.TripError as exc:
        session.rollback()
        flash(f"Not cancelled: {exc}")
    else:
        flash(f"Trip {trip.id} cancelled: {reason}")
    return redirect(url_for("dispatch.trip_page", trip_id=trip.id))


@pages.post("/dispatch/trips/<int:trip_id>/duplicate")
@page_roles(*STAFF)
def duplicate_action(trip_id: int):
    """Copy the trip and open the copy's form to set its time and escort."""
    session = request_session()
    source = _staff_trip(trip_id)
    try:
        copy = service.duplicate_trip(session, source, g.user, now=utcnow())
    except trips.TripError as exc:
        session.rollback()
        flash(f"Not copied: {exc}")
        return redirect(url_for("dispatch.trip_page", trip_id=source.id))
    flash(f"Trip {copy.id} is a copy of trip {source.id}: set its time and escort.")
    return redirect(url_for("plan.edit_trip_page", trip_id=copy.id))


# ---- standing orders ----------------------------------------------------------------------------


def _read_order(session, raw: dict) -> trip_form.TripForm:
    """Read the standing-order form: patient, places, local times, days, first and last date."""
    form = trip_form.TripForm(raw={k: (v or "") for k, v in raw.items()})
    trip_form.read_patient(session, form)
    for end, words in (("pickup", "Pickup"), ("dropoff", "Drop-off")):
        lat = trip_form.read_number(form, f"{end}_lat", f"{words} latitude", -90, 90)
        lon = trip_form.read_number(form, f"{end}_lon", f"{words} longitude", -180, 180)
        if lat is not None and lon is not None:
            # The address found by the form's search (or the pin's reverse lookup), kept with the order.
            form.values[end] = {"lat": lat, "lon": lon, "address": form.raw.get(f"{end}_address", "").strip() or None}
    trip_form.read_stops(form)
    for name, label, required in (("pickup_time", "Pickup time", True), ("appointment_time", "Appointment", False)):
        value = form.raw.get(name, "").strip()
        try:
            form.values[name] = standing.parse_hhmm(value, label).strftime("%H:%M") if value else None
        except standing.StandingError:
            form.errors[name] = f"{label} must be a time like 09:30"
        if required and not value:
            form.errors[name] = f"Enter the {label.lower()}"
    form.values["days"] = [d for d in standing.DAYS if d in request.form.getlist("days")]
    if not form.values["days"]:
        form.errors["days"] = "Choose at least one day of the week"
    for name, label in (("starts_on", "First date"), ("ends_on", "Last date")):
        try:
            form.values[name] = date.fromisoformat(form.raw.get(name, ""))
        except ValueError:
            form.errors[name] = f"Enter the {label.lower()} as a date"
    form.values["escort"] = form.raw.get("escort", "").strip() or None
    return form


def _orders_context(session, raw: dict, errors: dict, days: list[str]) -> dict:
    """Return what the standing-orders page shows: the orders with their coming dates, and the form."""
    orders = session.exec(select(StandingOrder).where(StandingOrder.active.is_(True))
                          .order_by(StandingOrder.id.desc())).all()
    shown = []
    today = local_today(utcnow())
    for order in orders:
        public = standing.public(session, order)
        patient = session.get(Patient, order.patient_id)
        made = {d["date"]: d for d in public["dates"]}
        coming = [{"date": d.isoformat(), **made.get(d.isoformat(), {"trip_id": None, "skipped": False})}
                  for d in standing.dates_between(order, today, today + timedelta(days=62))]
        shown.append({**public, "patient_name": patient.name if patient else "?", "coming": coming,
                      "places": trips.from_to(order),
                      "day_words": ", ".join(standing.DAY_WORDS[d] for d in order.days)})
    ctx = _form_context(session, raw, errors)
    ctx.update(orders=shown, day_names=standing.DAY_WORDS, chosen_days=days)
    return ctx


@pages.route("/dispatch/standing-orders", methods=["GET", "POST"])
@page_roles(*STAFF)
def standing_orders_page():
    """List standing orders with their coming dates; create one; skip a date."""
    session = request_session()
    if request.method == "GET":
        return render_template("dispatch/standing_orders.html", **_orders_context(session, {}, {}, []))
    form = _read_order(session, request.form.to_dict())
    order = None
    if form.ok:
        v = form.values
        named = _name_places(session, v["pickup"], v["dropoff"], v["allowed_stops"])
        try:
            order, made = standing.create(
                session, patient_id=v["patient_id"], escort=v["escort"], pickup=v["pickup"], dropoff=v["dropoff"],
                route=routes.road_points(current_app.extensions["escort"].router, v["pickup"], v["dropoff"],
                                         v["allowed_stops"]),
                allowed_stops=v["allowed_stops"], settings={}, pickup_time=v["pickup_time"],
                appointment_time=v["appointment_time"], days=v["days"], starts_on=v["starts_on"],
                ends_on=v["ends_on"], tz=tz(), user=g.user, now=utcnow())
        except (standing.StandingError, trips.TripError) as exc:
            session.rollback()
            message = str(exc)
            name = next((n for n in ("escort", "ends_on", "starts_on", "appointment_time", "pickup_time", "days")
                         if n in message or n.split("_")[0] in message), "form")
            form.errors[name] = message
    if not form.ok:
        return render_template("dispatch/standing_orders.html",
                               **_orders_context(session, form.raw, form.errors, form.values.get("days", []))), 400
    session.commit()
    for trip in made:
        realtime.emit_trip(present.trip_public(session, trip), None, None)
    flash(f"Standing order {order.id} created with {len(made)} trips planned ahead."
          + (f" {named.words()}" if named.words() else ""))
    return redirect(url_for("plan.standing_orders_page") + f"#order-{order.id}")


@pages.post("/dispatch/standing-orders/<int:order_id>/skip")
@page_roles(*STAFF)
def skip_order_date(order_id: int):
    """Skip the chosen date of a standing order."""
    session = request_session()
    order = session.get(StandingOrder, order_id)
    if order is None:
        abort(404)
    try:
        day = date.fromisoformat(request.form.get("date", ""))
        trip = standing.skip(session, order, day, g.user, now=utcnow())
    except ValueError as exc:
        session.rollback()
        flash(f"Not skipped: {exc if isinstance(exc, standing.StandingError) else 'choose a date'}")
        return redirect(url_for("plan.standing_orders_page") + f"#order-{order.id}")
    session.commit()
    if trip is not None:
        realtime.emit_trip(present.trip_public(session, trip), present.trip_for_escort(session, trip),
                           trip.escort_user_id)
    flash(f"{day.strftime('%A %-d %B %Y')} skipped on standing order {order.id}; the other dates are unchanged.")
    return redirect(url_for("plan.standing_orders_page") + f"#order-{order.id}")


@pages.post("/dispatch/standing-orders/<int:order_id>/end")
@page_roles(*STAFF)
def end_order(order_id: int):
    """End a standing order (its trips not yet started are cancelled)."""
    session = request_session()
    order = session.get(StandingOrder, order_id)
    if order is None or not order.active:
        abort(404)
    cancelled = standing.end(session, order, g.user, now=utcnow())
    session.commit()
    for trip in cancelled:
        realtime.emit_trip(present.trip_public(session, trip), present.trip_for_escort(session, trip),
                           trip.escort_user_id)
    flash(f"Standing order {order.id} ended; {len(cancelled)} coming trips cancelled.")
    return redirect(url_for("plan.standing_orders_page"))
