"""Builders for users, devices, patients, trips and fixes used across the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlmodel import Session

from app.auth import create_api_token, create_user
from app.db import utcnow
from dispatch import trips as trips_mod
from patients.models import Patient
from tracking.devices import create_device

PASSWORD = "correct-horse-battery"
# A short straight route in central London, (lat, lon).
ROUTE = [(51.5007, -0.1246), (51.5010, -0.1200), (51.5014, -0.1150), (51.5018, -0.1100), (51.5022, -0.1050)]


def fix_payload(seq: int, lat: float = 51.5007, lon: float = -0.1246, ts: datetime | None = None, **extra) -> dict:
    """Return a /device fix payload."""
    ts = ts or utcnow()
    return {"seq": seq, "lat": lat, "lon": lon, "ts": ts.isoformat().replace("+00:00", "Z"), **extra}


def login(client, username: str, password: str = PASSWORD):
    """Log a test client in through the real login form."""
    from tests.factories import csrf_token

    resp = client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def csrf_token(client) -> str:
    """Fetch the login page and return the CSRF token in it."""
    import re

    html = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "login page has no csrf meta tag"
    return match.group(1)


@dataclass
class World:
    """A ready cast: users by role, API tokens, an escort device, a patient and a trip."""

    app: object
    session: Session
    users: dict = field(default_factory=dict)
    api_tokens: dict = field(default_factory=dict)
    device: object = None
    device_token: str = ""
    patient: object = None
    trip: object = None

    @classmethod
    def build(cls, app, session: Session, *, trip_status: str = "on_board") -> "World":
        """Create the cast and put the trip in ``trip_status``."""
        now = utcnow()
        w = cls(app=app, session=session)
        for name, role in (("ada", "admin"), ("dan", "dispatcher"), ("eve", "escort"),
                           ("emil", "escort"), ("cora", "coordinator")):
            w.users[role if role not in w.users else f"{role}2"] = create_user(session, name, role, PASSWORD, now=now)
            w.api_tokens[name] = create_api_token(session, w.users[role if name != "emil" else "escort2"], now=now)
        w.device, w.device_token = create_device(session, "eve-phone", w.users["escort"], now=now)
        w.patient = Patient(name="Pat Example", contacts=[{"name": "Sam", "phone": "+44 20 7946 0000"}],
                            coordinator_user_id=w.users["coordinator"].id, created_at=now)
        session.add(w.patient)
        session.flush()
        w.trip = w.make_trip(status=trip_status)
        session.commit()
        return w

    def make_trip(self, *, status: str = "on_board", escort: str = "eve", device=True, now=None, **kw):
        """Create a trip on the standard route and walk it to ``status``."""
        now = now or utcnow()
        trip = trips_mod.create_trip(
            self.session, patient_id=self.patient.id, escort=escort,
            device_id=self.device.id if device is True else device,
            pickup={"lat": ROUTE[0][0], "lon": ROUTE[0][1], "radius_m": 60},
            dropoff={"lat": ROUTE[-1][0], "lon": ROUTE[-1][1], "radius_m": 60},
            route=[list(p) for p in ROUTE], settings=kw.pop("settings", {}),
            scheduled_pickup_at=now, appointment_at=now + timedelta(hours=1), user=self.users["dispatcher"], now=now,
        )
        path = ["en_route_pickup", "arrived_pickup", "on_board", "arrived_dropoff", "completed"]
        if status in path:
            for step in path[: path.index(status) + 1]:
                trips_mod.change_status(self.session, trip, step, self.users["dispatcher"], now=now)
        self.session.commit()
        return trip

    def bearer(self, name: str) -> dict:
        """Return the Authorization header of a user's API token."""
        return {"Authorization": f"Bearer {self.api_tokens[name]}"}


def epoch(dt: datetime) -> float:
    """Return epoch seconds of an aware datetime."""
    return dt.astimezone(timezone.utc).timestamp()
