"""Dispatch actions that change state and tell the connected screens: commit, then emit."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, has_app_context
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app import realtime
from app.models import User
from dispatch import alerts, arrival, codeword, line, planning, present, safety, standing, trips
from dispatch.models import Alert, Trip
from patients.models import Patient


def set_status(session: Session, trip: Trip, status: str, user: User, *, now: datetime,
               pin: str | None = None, reason: str | None = None) -> Trip:
    """Change a trip's status, commit, and tell dispatchers and the escort.

    An escort with PINs ends a trip with one; the duress PIN ends it just the same and
    silently raises ``duress``.
    """
    duress = False
    if status == "completed" and user.role == "escort" and user.safe_pin_hash:
        try:
            check = _check_pin(session, user, pin, trip=trip, device_id=trip.device_id, source="end_trip", now=now)
        except safety.SafetyError:
            check = None
        if check is None or not check.accepted:
            raise trips.TripError("enter your PIN to end the trip")
        duress = check.duress
    trips.change_status(session, trip, status, user, now=now, reason=(reason or "").strip() or None)
    # A low battery matters while the trip is under way: its end clears the alert (a tablet on a desk is no risk).
    battery = None
    if status in trips.TERMINAL:
        battery = alerts.auto_resolve(session, trip_id=trip.id, device_id=trip.device_id, kind="low_battery",
                                      detail={}, at=now, now=now, note="trip ended")
    session.commit()
    _forget_active_trips()
    if battery is not None:
        realtime.emit_alert(alerts.public(battery))
    if duress:
        realtime.socketio.start_background_task(_raise_duress, session.get_bind(), user.id, trip.id, now)
    realtime.emit_trip(present.trip_public(session, trip), present.trip_for_escort(session, trip),
                       trip.escort_user_id)
    return trip


def places_changed(session: Session, *, now: datetime) -> None:
    """After a hazard zone or flagged place changed (committed): detect with it and show it at once.

    This process's detection reads the places again at its next fix (other processes within
    seconds), and every open live map gets the places in force (through Redis with several processes).
    """
    if has_app_context():
        current_app.extensions["escort"].zones.forget()
    realtime.emit_places(present.places(session, now=now))


def _forget_active_trips() -> None:
    """Make this process look up devices' trips afresh after a status change."""
    if has_app_context():
        current_app.extensions["escort"].active_trips.forget()


def acknowledge(session: Session, alert: Alert, user: User, *, now: datetime) -> dict:
    """Acknowledge an alert, commit, and tell dispatchers."""
    alerts.acknowledge(session, alert, user, now=now)
    session.commit()
    payload = alerts.public(alert, {user.id: user.username})
    realtime.emit_alert(payload)
    return payload


def resolve(session: Session, alert: Alert, user: User, *, category: str, note: str | None, now: datetime) -> dict:
    """Resolve an alert, commit, and tell dispatchers."""
    alerts.resolve(session, alert, user, category=category, note=note, now=now)
    session.commit()
    names = {user.id: user.username}
    if alert.acknowledged_by_id and alert.acknowledged_by_id != user.id:
        other = session.get(User, alert.acknowledged_by_id)
        names[other.id] = other.username
    payload = alerts.public(alert, names)
    realtime.emit_alert(payload)
    return payload


def panic(session: Session, device, data: dict, *, now: datetime) -> None:
    """Raise panic for the device's trip at its last known position, commit, and alert dispatchers."""
    from tracking.schemas import parse_panic

    at, lat, lon = parse_panic(data, now=now)
    if lat is None and device.last_lat is not None:
        lat, lon = device.last_lat, device.last_lon
    trip = trips.active_trip_for_device(session, device)
    alert = safety.panic(session, trip=trip, device_id=device.id, at=at, now=now, lat=lat, lon=lon)
    session.commit()
    realtime.emit_alert(alerts.public(alert))


def _check_pin(session: Session, user: User, pin, *, trip: Trip | None, device_id: int | None, source: str,
               now: datetime) -> safety.PinCheck:
    """Check a PIN through the limiter (``safety.check_pin``); commit a refusal and tell dispatchers of its alert."""
    check = safety.check_pin(session, user, pin, trip=trip, device_id=device_id, source=source, now=now)
    if not check.accepted:
        session.commit()
        if check.alert is not None:
            realtime.emit_alert(alerts.public(check.alert))
    return check


def checkin(session: Session, user_id: int, pin, *, now: datetime, device_id: int | None = None) -> dict:
    """Check an escort in; the answer is the same for the safe and the duress PIN.

    The duress alert is raised in a background task after the answer is built, so neither
    the answer nor its timing differs between the two PINs. Either PIN closes an open
    ``missed_checkin``. A wrong PIN, and any PIN while the limiter makes the escort wait, get
    one and the same refusal.
    """
    user = session.get(User, user_id)
    trip = trips.current_trip_for_escort(session, user)
    try:
        check = _check_pin(session, user, pin, trip=trip, device_id=device_id, source="checkin", now=now)
    except safety.SafetyError as exc:
        return {"ok": False, "error": str(exc)}
    if not check.accepted:
        return {"ok": False, "error": safety.PIN_NOT_ACCEPTED}
    cleared = safety.record_checkin(session, user, trip, now=now)
    session.commit()
    if check.duress:
        realtime.socketio.start_background_task(_raise_duress, session.get_bind(), user.id,
                                                trip.id if trip else None, now)
    if cleared is not None:  # to dispatchers only; either PIN clears it, so the escort's side is the same
        realtime.emit_alert(alerts.public(cleared))
    return {"ok": True}


def _raise_duress(engine, user_id: int, trip_id: int | None, now: datetime) -> None:
    """Raise the silent duress alert and tell dispatchers (never the escort's screen)."""
    with Session(engine, expire_on_commit=False) as session:
        user = session.get(User, user_id)
        trip = session.get(Trip, trip_id) if trip_id else None
        alert = safety.raise_duress(session, user, trip, now=now)
        session.commit()
        realtime.emit_alert(alerts.public(alert))


def change_pins(session: Session, user_id: int, data: dict, *, now: datetime, device_id: int | None = None) -> dict:
    """Let an escort set their PINs and code phrase; changing them needs the current PIN (through the limiter).

    Given the duress PIN as the current one, the answer is the same success, nothing changes,
    and dispatch is silently alerted: someone may be forcing the change.
    """
    user = session.get(User, user_id)
    trip = trips.current_trip_for_escort(session, user)
    phrase = data.get("code_phrase")
    # A code phrase alone changes only the phrase; otherwise both PINs are given.
    new_pins = phrase is None or data.get("safe") is not None or data.get("duress") is not None
    try:
        if new_pins:
            safety.check_new_pins(data.get("safe"), data.get("duress"))
        if phrase is not None:
            codeword.check_new(phrase, line.QUICK_REPLIES)
        check = None
        if user.safe_pin_hash:
            check = _check_pin(session, user, data.get("current"), trip=trip, device_id=device_id,
                               source="change_pins", now=now)
    except (safety.SafetyError, codeword.CodePhraseError) as exc:
        return {"ok": False, "error": str(exc)}
    if check is not None and not check.accepted:
        return {"ok": False, "error": safety.PIN_NOT_ACCEPTED}
    if check is not None and check.duress:
        session.commit()  # the count of wrong PINs, set back to zero
        realtime.socketio.start_background_task(_raise_duress, session.get_bind(), user.id,
                                                trip.id if trip else None, now)
        return {"ok": True}
    if new_pins:
        safety.set_pins(user, data["safe"], data["duress"])
    if phrase is not None:
        line.set_code_phrase(session, user, phrase, by=user, via="tablet")
    session.add(user)
    session.commit()
    return {"ok": True}


def doses_before_arrival(session: Session, trip: Trip, *, now: datetime, tz: str) -> list[dict]:
    """Return the doses due from now until the live drop-off ETA: what the escort gives on the way.

    Empty when the trip is not under way (the planner's warnings cover the planned window).
    """
    found = arrival.estimate(session, trip, now=now, last_fix=present.last_fix(session, trip))
    dropoff_at = arrival.dropoff_at(trip, found)
    if dropoff_at is None:
        return []
    patient = session.get(Patient, trip.patient_id)
    if patient is None or not patient.medications:
        return []
    start, end = safety.transit_window(trip, now=now, live_dropoff_at=dropoff_at)
    return safety.medication_warnings(patient.medications, start, end, tz)


def plan_warnings(session: Session, trip: Trip, *, tz: str) -> list[dict]:
    """Warn the planner of doses due during the trip and of flagged places at either end; log them."""
    from dispatch.models import TripEvent
    from dispatch.safety import medication_warnings

    patient = session.get(Patient, trip.patient_id)
    start, end = safety.transit_window(trip, now=trip.created_at)
    found = medication_warnings(patient.medications or [], start, end, tz) if patient else []
    for warning in found:
        session.add(TripEvent(trip_id=trip.id, at=trip.created_at, kind="medication_warning",
                              detail=alerts.sealed(warning)))
    from dispatch import flags

    flagged = flags.for_trip(session, trip, trip.created_at)
    for warning in flagged:
        session.add(TripEvent(trip_id=trip.id, at=trip.created_at, kind="flag_warning", detail=warning))
    return [{"kind": "medication", **w} for w in found] + [{"kind": "flagged_place", **w} for w in flagged]


def edit_trip(session: Session, trip: Trip, changes: dict, user: User, *, now: datetime) -> planning.Edit:
    """Apply a trip's changes, commit, and tell dispatchers, the escort who lost it and the one who got it."""
    edit = planning.edit_trip(session, trip, changes, user, now=now)
    session.commit()
    _forget_active_trips()
    if edit.reassigned and edit.old_escort_id is not None:
        realtime.emit_to_escort("trip_withdrawn", {"id": trip.id}, edit.old_escort_id)
    realtime.emit_trip(present.trip_public(session, trip), present.trip_for_escort(session, trip),
                       trip.escort_user_id)
    return edit


def duplicate_trip(session: Session, source: Trip, user: User, *, now: datetime, **times) -> Trip:
    """Copy a trip, commit, and tell dispatchers (and the escort, when one is named)."""
    copy = planning.duplicate_trip(session, source, user, now=now, **times)
    session.commit()
    realtime.emit_trip(present.trip_public(session, copy), present.trip_for_escort(session, copy),
                       copy.escort_user_id)
    return copy


def top_up_standing_orders(engine, *, now: datetime) -> list[int]:
    """Make standing orders' trips up to the horizon in one transaction, and tell the screens; return their ids.

    Two processes topping up at once: the second meets the first's dates (unique per order
    and date), rolls back, and leaves the trips to the first.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            made = standing.top_up(session, now=now)
            session.commit()
        except IntegrityError:
            session.rollback()
            return []
        for trip in made:
            realtime.emit_trip(present.trip_public(session, trip), present.trip_for_escort(session, trip),
                               trip.escort_user_id)
        return [t.id for t in made]
