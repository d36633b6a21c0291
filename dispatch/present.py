"""Trips, fixes and snapshots in the shapes the map, the tablet and the API show."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import Session, func, select

from app.db import utcnow
from app.models import User
from app.times import iso_z
from dispatch import alerts as alerts_mod
from dispatch import arrival, flags, line, scheduler, zones
from dispatch import trips as trips_mod
from dispatch.models import FlaggedPlace, HazardZone, Trip
from patients.models import Patient
from tracking.eta import LegRouter
from tracking.models import Device, FixRow


def fix_public(fix, device_id: int, trip_id: int | None) -> dict:
    """Return a fix (a stored row or a Fix value) as dispatchers see it."""
    return {
        "device_id": device_id, "trip_id": trip_id, "seq": fix.seq, "lat": fix.lat, "lon": fix.lon,
        "ts": iso_z(fix.ts), "speed_mps": fix.speed_mps, "heading_deg": fix.heading_deg,
        "accuracy_m": fix.accuracy_m, "battery_pct": fix.battery_pct, "mock": bool(fix.mock),
    }


def last_fix(session: Session, trip: Trip) -> FixRow | None:
    """Return the trip's latest fix by timestamp."""
    return session.exec(
        select(FixRow).where(FixRow.trip_id == trip.id).order_by(FixRow.ts.desc(), FixRow.id.desc()).limit(1)
    ).first()


def _geofences(trip: Trip) -> dict:
    """Return the pickup and drop-off circles."""
    return {
        "pickup": {"lat": trip.pickup_lat, "lon": trip.pickup_lon, "radius_m": trip.pickup_radius_m,
                   "address": trip.pickup_address},
        "dropoff": {"lat": trip.dropoff_lat, "lon": trip.dropoff_lon, "radius_m": trip.dropoff_radius_m,
                    "address": trip.dropoff_address},
    }


def trip_public(session: Session, trip: Trip, *, with_last_fix: bool = True, now: datetime | None = None,
                leg_router: LegRouter | None = None) -> dict:
    """Return the trip as the live map and the REST API show it, with its live ETA while under way."""
    patient = session.get(Patient, trip.patient_id)
    escort = session.get(User, trip.escort_user_id) if trip.escort_user_id else None
    row = last_fix(session, trip) if with_last_fix or trip.status in arrival.TO_PICKUP | arrival.TO_DROPOFF else None
    found = arrival.estimate(session, trip, now=now or utcnow(), last_fix=row, leg_router=leg_router)
    if not with_last_fix:
        row = None
    return {
        "id": trip.id, "status": trip.status, "patient_id": trip.patient_id,
        "patient_name": patient.name if patient else None,
        "escort": escort.username if escort else None, "device_id": trip.device_id,
        **_geofences(trip), "places": trips_mod.from_to(trip), "route": trip.route, "route_source": trip.route_source,
        "route_distance_m": trip.route_distance_m, "route_duration_s": trip.route_duration_s,
        "allowed_stops": trip.allowed_stops, "settings": trip.settings,
        "scheduled_pickup_at": iso_z(trip.scheduled_pickup_at), "appointment_at": iso_z(trip.appointment_at),
        "started_at": iso_z(trip.started_at), "ended_at": iso_z(trip.ended_at),
        "last_fix": fix_public(row, row.device_id, row.trip_id) if row else None,
        **arrival.public(found),
    }


def trip_for_escort(session: Session, trip: Trip | None, *, now: datetime | None = None) -> dict | None:
    """Return what the escort's tablet shows of their own trip (no dispatcher-only data).

    With the patient's name and sheet link, the warnings of flagged places at the pickup or
    drop-off, so the escort reads them before arriving, and when the next check-in is due.
    """
    if trip is None:
        return None
    clock = scheduler.checkin_clock_for(session, trip)
    patient = session.get(Patient, trip.patient_id)
    return {
        "id": trip.id, "status": trip.status, "patient_id": trip.patient_id,
        "patient_name": patient.name if patient else None,
        # Published flagged places within ~100 m of either end: read before arriving.
        "flags": flags.for_trip(session, trip, now or utcnow(), reach_m=flags.ESCORT_REACH_M),
        **_geofences(trip), "route": trip.route or [],  # [[lat, lon], …]: the tablet's map draws it
        # Where a stop raises no alert (a pharmacy on the way): [{"lat", "lon", "radius_m", "address"?}].
        "allowed_stops": list(trip.allowed_stops or []),
        "scheduled_pickup_at": iso_z(trip.scheduled_pickup_at), "appointment_at": iso_z(trip.appointment_at),
        "allowed_next": trips_mod.allowed_next(trip, "escort"),
        "checkin_due_at": iso_z(clock.due_at) if clock else None,
        **arrival.public(arrival.estimate(session, trip, now=now or utcnow(), last_fix=last_fix(session, trip))),
    }


def snapshot(session: Session, *, now: datetime) -> dict:
    """Return everything a dispatcher page needs on (re)connect."""
    live = trips_mod.live_trips(session)
    # The patients and users the trips name, in two queries: trip_public then finds each in the
    # session instead of one query apiece (400 trips under way cost a second). Held here, so
    # the session's weak identity map keeps them while the trips are built.
    users = session.exec(select(User)).all()
    patients = session.exec(select(Patient).where(Patient.id.in_({t.patient_id for t in live}))).all() if live else []
    trips = [trip_public(session, t, now=now) for t in live]
    busy_devices = {t.device_id for t in live if t.device_id} | {
        t["last_fix"]["device_id"] for t in trips if t["last_fix"]
    }
    idle = [d for d in session.exec(select(Device).where(Device.last_fix_at.is_not(None))).all()
            if d.id not in busy_devices]
    off_duty = line.hidden_devices(session, [d.id for d in idle])  # an escort off duty is on no map
    devices = [{"device_id": d.id, "label": d.label, "last_fix": _device_fix(d)} for d in idle if d.id not in off_duty]
    names = {u.id: u.username for u in users}
    del patients
    return {
        "server_time": iso_z(now), "trips": trips, "devices": devices,
        "alerts": [alerts_mod.public(a, names) for a in alerts_mod.listed_alerts(session)],
        **places(session, now=now),
    }


def places(session: Session, *, now: datetime) -> dict:
    """Return the hazard zones and published flagged places in force, as the live map draws them.

    The snapshot carries them, and so does the ``places`` event each change of them sends. Each
    process reads them after its own commit, so two processes' events can arrive out of order:
    ``places_version`` tells the map which set is newer (it ignores an older one).
    """
    return {"zones": [zones.public(z) for z in zones.active_zones(session, now)],
            "flagged_places": [{**flags.public(p), "title": flags.CATEGORY_LABELS.get(p.category, "Warning")}
                               for p in flags.in_force(session, now)],
            "places_version": places_version(session)}


def places_version(session: Session) -> str | None:
    """Return the newest ``updated_at`` of any hazard zone or flagged place (retired, reported and declined
    ones too), which every create, edit, retire, publish and decline moves forward; None when there are none.

    Fixed-width ISO-8601 with microseconds and a ``Z``, so that versions compare as strings.
    """
    newest = [t for t in (session.exec(select(func.max(HazardZone.updated_at))).one(),
                          session.exec(select(func.max(FlaggedPlace.updated_at))).one()) if t is not None]
    return max(newest).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if newest else None


def _device_fix(device: Device) -> dict:
    """Return a device's last known position in the fix shape."""
    return {
        "device_id": device.id, "trip_id": None, "seq": device.last_seq, "lat": device.last_lat,
        "lon": device.last_lon, "ts": iso_z(device.last_fix_at), "speed_mps": None, "heading_deg": None,
        "accuracy_m": None, "battery_pct": None, "mock": None,  # the device row keeps no mock mark
    }
