"""A finished trip with a recorded track, status changes, an alert and a note, for the trip log tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dispatch import alerts, trips
from dispatch.models import TripEvent
from tests.factories import ROUTE
from tracking.models import Fix as FixRow

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
STEP_S = 5


def track_points(t0: datetime = T0) -> list[tuple[datetime, float, float, float | None]]:
    """Return (ts, lat, lon, altitude) along the standard route: a 2-minute wait, a detour, a stop."""
    points = [(t0 + timedelta(seconds=s), ROUTE[0][0], ROUTE[0][1], 12.5) for s in range(0, 125, STEP_S)]
    s = 125
    for (lat1, lon1), (lat2, lon2) in zip(ROUTE, ROUTE[1:]):
        for k in range(1, 11):
            f = k / 10
            lat, lon = lat1 + f * (lat2 - lat1), lon1 + f * (lon2 - lon1)
            if (lat1, lon1) == ROUTE[1] and 3 <= k <= 6:
                lat += 0.0015  # ~167 m north: off the route for a while
            points.append((t0 + timedelta(seconds=s), lat, lon, None))
            s += STEP_S
        if (lat2, lon2) == ROUTE[2]:
            points += [(t0 + timedelta(seconds=s + k * STEP_S), lat2, lon2, None) for k in range(0, 45)]  # with the arriving fix: a 225 s stop
            s += 45 * STEP_S
    return points


def finished_trip(world, session, *, t0: datetime = T0, escort: str = "eve", patient=None):
    """Create a completed trip with a stored track, status times, an acknowledged alert and a note."""
    dan = world.users["dispatcher"]
    patient = patient or world.patient
    trip = trips.create_trip(
        session, patient_id=patient.id, escort=escort, device_id=world.device.id,
        pickup={"lat": ROUTE[0][0], "lon": ROUTE[0][1], "radius_m": 60},
        dropoff={"lat": ROUTE[-1][0], "lon": ROUTE[-1][1], "radius_m": 60},
        route=[list(p) for p in ROUTE], settings={}, scheduled_pickup_at=t0 - timedelta(minutes=5),
        appointment_at=t0 + timedelta(minutes=12), user=dan, now=t0 - timedelta(days=1))
    points = track_points(t0)
    end = points[-1][0]
    for status, at in (("en_route_pickup", t0 - timedelta(minutes=10)), ("arrived_pickup", t0),
                       ("on_board", t0 + timedelta(seconds=120)), ("arrived_dropoff", end),
                       ("completed", end + timedelta(seconds=30))):
        trips.change_status(session, trip, status, dan, now=at)
    session.flush()
    for seq, (ts, lat, lon, alt) in enumerate(points, start=1):
        session.add(FixRow(device_id=world.device.id, seq=trip.id * 100_000 + seq, trip_id=trip.id, ts=ts,
                           received_at=ts, lat=lat, lon=lon, altitude_m=alt, speed_mps=8.0 if alt is None else 0.0,
                           accuracy_m=5.0))
    raised = t0 + timedelta(seconds=200)
    alert, _ = alerts.raise_alert(session, trip_id=trip.id, device_id=world.device.id, kind="deviation",
                                  detail={"max_distance_off_route_m": 160.0}, at=raised, now=raised)
    alerts.acknowledge(session, alert, dan, now=raised + timedelta(seconds=40))
    alerts.resolve(session, alert, dan, category="precautionary", note="roadworks", now=raised + timedelta(seconds=90))
    session.add(TripEvent(trip_id=trip.id, at=t0 + timedelta(seconds=60), kind="checkin",
                          user_id=world.users["escort"].id, detail={"by": "eve"}))
    session.commit()
    return trip, points
