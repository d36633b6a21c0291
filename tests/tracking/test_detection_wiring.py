"""Detection through the server: allowed stops from the trip, arrival offered to the escort's tablet."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import utcnow
from app.realtime import socketio
from dispatch.models import Alert
from tests.factories import ROUTE, fix_payload, login


def _stand(client, token, lat, lon, start, seconds, first_seq):
    """Send one fix every 5 s standing at (lat, lon)."""
    for i in range(0, seconds, 5):
        client.post("/api/v1/fixes", json=[fix_payload(first_seq + i, lat=lat, lon=lon, ts=start + timedelta(seconds=i))],
                    headers={"Authorization": f"Bearer {token}"})


def test_a_stop_at_an_allowed_place_is_not_an_alert_but_elsewhere_it_is(client, world, session):
    body = {"patient_id": world.patient.id, "escort": "emil",
            "pickup": {"lat": ROUTE[0][0], "lon": ROUTE[0][1]}, "dropoff": {"lat": ROUTE[-1][0], "lon": ROUTE[-1][1]},
            "route": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in ROUTE]},
            "allowed_stops": [{"lat": ROUTE[2][0], "lon": ROUTE[2][1], "radius_m": 40}],
            "scheduled_pickup_at": utcnow().isoformat(), "settings": {"stop_after_s": 60}}
    made = client.post("/api/v1/trips", json=body, headers=world.bearer("dan"))
    assert made.status_code == 201 and made.json["allowed_stops"][0]["radius_m"] == 40
    from tracking.devices import create_device

    emil = world.users["escort2"]
    _, token = create_device(session, "emil-phone", emil, now=utcnow())
    session.commit()
    url = f"/api/v1/trips/{made.json['id']}/status"
    for status in ("en_route_pickup", "arrived_pickup", "on_board"):
        assert client.post(url, json={"status": status}, headers=world.bearer("dan")).status_code == 200
    start = utcnow() - timedelta(minutes=20)
    _stand(client, token, *ROUTE[2], start, 180, 1000)
    session.expire_all()
    assert session.exec(select(Alert).where(Alert.trip_id == made.json["id"])).all() == []
    _stand(client, token, *ROUTE[3], start + timedelta(seconds=300), 180, 2000)
    session.expire_all()
    kinds = [a.kind for a in session.exec(select(Alert).where(Alert.trip_id == made.json["id"])).all()]
    assert kinds == ["stop"]


def test_arriving_at_the_drop_off_is_offered_to_the_escort(app, client, world):
    tablet = socketio.test_client(app, namespace="/device", flask_test_client=login(app.test_client(), "eve"))
    tablet.get_received("/device")
    start = utcnow() - timedelta(minutes=5)
    for i, (lat, lon) in enumerate(ROUTE):
        client.post("/api/v1/fixes", json=[fix_payload(i + 1, lat=lat, lon=lon, ts=start + timedelta(seconds=60 * i))],
                    headers={"Authorization": f"Bearer {world.device_token}"})
    suggestions = [m["args"][0] for m in tablet.get_received("/device") if m["name"] == "suggest"]
    assert {"trip_id": world.trip.id, "kind": "arrived_dropoff"}.items() <= suggestions[-1].items()
