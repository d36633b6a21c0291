"""The sweep routes the pickup leg (escort → pickup) with the configured router, never the ingest path.

The embedded router on the Helsinki extract routes it; routing servers that refuse or never
answer are real local HTTP servers, and the ETA falls back to the straight line, saying so.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.db import utcnow
from dispatch import arrival, legs
from dispatch.models import Trip
from places.routing import HttpRouter
from tests.factories import fix_payload
from tracking import eta
from tracking.detectors import DetectionState
from tracking.models import TripTrackState

STATION = (60.1712064, 24.9412091)          # Kaivokatu 1
LONNROTINKATU_7 = (60.1664105, 24.9381917)
ELSEWHERE = (60.1700, 24.9480)               # about 400 m east of the station, 380 m off its leg to Lönnrotinkatu


def _en_route(world, session, pickup=LONNROTINKATU_7, device=True) -> Trip:
    """Return a trip driving to a pickup in Helsinki (the world's own trip completed: fixes are this one's)."""
    if device is True and world.trip.status != "completed":
        world.trip.status = "completed"
        session.add(world.trip)
        session.commit()
    trip = world.make_trip(status="en_route_pickup", device=device)
    trip.pickup_lat, trip.pickup_lon = pickup
    trip.updated_at = utcnow()
    session.add(trip)
    session.commit()
    return trip


def _send(client, world, seq: int, at: tuple[float, float], ts) -> None:
    """Post one fix from the escort's phone."""
    resp = client.post("/api/v1/fixes", json=[fix_payload(seq, at[0], at[1], ts=ts)],
                       headers={"Authorization": f"Bearer {world.device_token}"})
    assert resp.status_code == 200 and resp.json["accepted"] == [seq], resp.json


def _placed(session, trip: Trip, at: tuple[float, float], now) -> None:
    """Give a trip a detection row as if its escort's last fix were at ``at``."""
    session.add(TripTrackState(trip_id=trip.id, last_fix_received_at=now,
                               state=DetectionState(last_lat=at[0], last_lon=at[1], last_ts=now).to_dict()))
    session.commit()


def _leg(session, trip: Trip) -> eta.PickupLeg | None:
    session.expire_all()
    row = session.get(TripTrackState, trip.id)
    return eta.PickupLeg.from_dict(row.pickup_leg) if row else None


def _trip(client, world, trip: Trip) -> dict:
    resp = client.get(f"/api/v1/trips/{trip.id}", headers=world.bearer("dan"))
    assert resp.status_code == 200, resp.json
    return resp.json


def test_the_sweep_routes_the_leg_by_road_and_the_eta_to_pickup_follows_it(app, client, world, session):
    trip = _en_route(world, session)
    now = utcnow()
    _send(client, world, 1, STATION, now - timedelta(seconds=5))
    before = _trip(client, world, trip)
    assert before["eta_to"] == "pickup" and before["eta_source"] == "straight line"  # nothing routed yet
    assert _leg(session, trip) is None  # ingest routed nothing

    app.extensions["escort"].sweep_once(now)
    leg = _leg(session, trip)
    assert leg is not None and leg.source == eta.ROAD and leg.router == "embedded"
    assert leg.origin == pytest.approx(STATION) and leg.to == pytest.approx(LONNROTINKATU_7)
    assert 500 < leg.distance_m < 1500 and 40 < leg.duration_s < 600 and len(leg.points) > 10
    after = _trip(client, world, trip)
    assert after["eta_to"] == "pickup" and after["eta_source"] == "road"
    # From the leg's start: the whole leg (plus the few metres from the fix to the road).
    assert leg.distance_m <= after["left_m"] < leg.distance_m + 100
    assert after["left_m"] != pytest.approx(before["left_m"], abs=1.0)


def test_a_fresh_leg_stands_and_a_stale_one_is_routed_again(app, client, world, session):
    trip = _en_route(world, session)
    now = utcnow()
    _send(client, world, 1, STATION, now - timedelta(seconds=5))
    escort = app.extensions["escort"]
    escort.sweep_once(now)
    first = _leg(session, trip)
    escort.sweep_once(now + timedelta(seconds=30))
    assert _leg(session, trip).routed_at == first.routed_at  # fresh, on it: not asked again
    # Older than LEG_MAX_AGE_S: routed again.
    later = now + timedelta(seconds=eta.LEG_MAX_AGE_S + 1)
    escort.sweep_once(later)
    again = _leg(session, trip)
    assert again.routed_at == later and again.source == eta.ROAD
    # The escort took another way (far off the leg): routed again from where they are.
    _send(client, world, 2, ELSEWHERE, now + timedelta(seconds=30))  # 400 m in 35 s: a drive, not a jump
    moved = later + timedelta(seconds=10)
    escort.sweep_once(moved)
    off = _leg(session, trip)
    assert off.routed_at == moved and off.origin == pytest.approx(ELSEWHERE) and off.distance_m > again.distance_m
    assert _trip(client, world, trip)["eta_source"] == "road"


def test_a_moved_pickup_is_routed_again_and_the_old_leg_is_not_used(app, client, world, session):
    trip = _en_route(world, session)
    now = utcnow()
    _send(client, world, 1, STATION, now - timedelta(seconds=5))
    app.extensions["escort"].sweep_once(now)
    trip.pickup_lat, trip.pickup_lon = ELSEWHERE
    trip.updated_at = utcnow()
    session.add(trip)
    session.commit()
    assert _trip(client, world, trip)["eta_source"] == "straight line"  # the leg leads where the pickup was
    app.extensions["escort"].sweep_once(now + timedelta(seconds=5))
    assert _leg(session, trip).to == pytest.approx(ELSEWHERE)
    assert _trip(client, world, trip)["eta_source"] == "road"


class _Server:
    """A real local HTTP 'routing server' that answers every request badly, counting them."""

    def __init__(self, status: int = 503, delay_s: float = 0.0) -> None:
        paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server's name)
                paths.append(self.path)
                if delay_s:
                    time.sleep(delay_s)
                body = b'{"code": "InvalidQuery", "message": "refused"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args):
                pass

        self.paths = paths
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"osrm+http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "_Server":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("status, delay_s", [(503, 0.0), (200, 8.0)], ids=["unavailable", "times-out"])
def test_a_router_that_is_down_or_slow_falls_back_to_the_straight_line_once_per_sweep(
        client, world, session, status, delay_s):
    now = utcnow()
    first = _en_route(world, session, device=None)
    second = _en_route(world, session, device=None)
    _placed(session, first, STATION, now)
    _placed(session, second, ELSEWHERE, now)
    with _Server(status, delay_s) as server:
        began = time.monotonic()
        result = legs.refresh(session, HttpRouter(server.url, timeout_s=1), now=now)
        took_s = time.monotonic() - began
    assert sorted(result.failed) == sorted([first.id, second.id]) and result.routed == []
    # Asked for the first leg only: once it is down, the rest of the sweep does not wait on it.
    assert server.paths and all("24.9412" in p for p in server.paths), server.paths
    assert took_s < 6.0  # the time-out (1 s, and routingpy's retries within it), not the server's 8 s
    for trip in (first, second):
        leg = _leg(session, trip)
        assert leg.source == eta.STRAIGHT_LINE and leg.error and leg.router == "osrm"
        fix = type("Fix", (), {"lat": STATION[0], "lon": STATION[1], "ts": now, "speed_mps": None})()
        got = arrival.estimate(session, trip, now=now, last_fix=fix)
        assert got.to == "pickup" and got.source == eta.STRAIGHT_LINE and got.left_m > 0


def test_a_refusal_for_one_leg_still_asks_for_the_next_and_a_failure_is_retried_later(world, session):
    now = utcnow()
    first = _en_route(world, session, device=None)
    second = _en_route(world, session, device=None)
    _placed(session, first, STATION, now)
    _placed(session, second, ELSEWHERE, now)
    with _Server(400) as server:  # "no road joins these places", each time
        router = HttpRouter(server.url, timeout_s=1)
        legs.refresh(session, router, now=now)
        assert len(server.paths) == 2  # one refusal says nothing about the next leg
        assert _leg(session, first).error.startswith(legs.NO_ROAD)
        legs.refresh(session, router, now=now + timedelta(seconds=eta.LEG_RETRY_S - 1))
        assert len(server.paths) == 2  # not hammered: a failed leg waits LEG_RETRY_S
        legs.refresh(session, router, now=now + timedelta(seconds=eta.LEG_RETRY_S))
        assert len(server.paths) == 4


def test_ingest_never_asks_the_router_only_the_sweep_does(app, client, world, session):
    trip = _en_route(world, session)
    now = utcnow()
    with _Server(503) as server:
        escort = app.extensions["escort"]
        escort.leg_router = HttpRouter(server.url, timeout_s=1)
        for seq in range(1, 6):
            _send(client, world, seq, (STATION[0] - seq * 1e-4, STATION[1]), now - timedelta(seconds=10 - seq))
        assert server.paths == []
        escort.sweep_once(now)
        assert server.paths
    assert _leg(session, trip).source == eta.STRAIGHT_LINE


def test_the_sweeps_budget_leaves_legs_for_the_next_sweep(world, session):
    now = utcnow()
    trips = [_en_route(world, session, device=None) for _ in range(3)]
    for trip in trips:
        _placed(session, trip, STATION, now)
    ticks = iter(range(100))
    result = legs.refresh(session, None, now=now, budget_s=2.5, clock=lambda: float(next(ticks)))
    assert len(result.failed) == 2 and result.left_for_later == 1
