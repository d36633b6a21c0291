"""Positions pushed to /dispatch carry the live ETA: over a real gunicorn server and real Socket.IO clients."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
import socketio as sio

from app.db import utcnow
from dispatch import legs
from tests.dispatch.test_pickup_legs import LONNROTINKATU_7, STATION, _en_route, _leg
from tests.factories import ROUTE, fix_payload
from tracking.geo import Route

ETA_KEYS = {"eta_at", "left_m", "eta_to", "eta_source"}


class _Watch:
    """A dispatcher's real Socket.IO client collecting the pushed positions."""

    def __init__(self, live, token: str) -> None:
        self.fixes: list[dict] = []
        self.arrived = threading.Condition()
        self.client = sio.Client(reconnection=False)
        self.client.on("positions", self._positions, namespace="/dispatch")
        self.client.connect(live.url, namespaces=["/dispatch"], auth={"token": token}, transports=["websocket"],
                            wait_timeout=10)

    def _positions(self, data) -> None:
        with self.arrived:
            self.fixes.extend(data["fixes"])
            self.arrived.notify_all()

    def fix(self, seq: int, timeout_s: float = 10.0) -> dict:
        """Return the pushed fix ``seq`` once it came."""
        deadline = time.monotonic() + timeout_s
        with self.arrived:
            while True:
                found = [f for f in self.fixes if f["seq"] == seq]
                if found:
                    return found[-1]
                left = deadline - time.monotonic()
                assert left > 0, f"fix {seq} was not pushed; got {[f['seq'] for f in self.fixes]}"
                self.arrived.wait(left)


def _device(live, world) -> sio.Client:
    device = sio.Client(reconnection=False)
    device.connect(live.url, namespaces=["/device"], auth={"token": world.device_token}, transports=["websocket"],
                   wait_timeout=10)
    return device


def _send(device, seq: int, at, ts) -> None:
    ack = device.call("fix", fix_payload(seq, at[0], at[1], ts=ts), namespace="/device", timeout=10)
    assert ack == {"ok": True, "seq": seq}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_positions_on_board_carry_the_eta_to_dropoff_along_the_route(live, world):
    route = Route(ROUTE)
    watch = _Watch(live, world.api_tokens["dan"])
    device = _device(live, world)
    start = utcnow() - timedelta(seconds=60)
    try:
        for seq, share in enumerate((0.1, 0.2, 0.3, 0.5), start=1):
            _send(device, seq, route.point_at(share * route.length_m), start + timedelta(seconds=seq * 12))
        first, last = watch.fix(1), watch.fix(4)
    finally:
        device.disconnect()
        watch.client.disconnect()
    assert ETA_KEYS <= set(first) and ETA_KEYS <= set(last)
    assert first["eta_to"] == last["eta_to"] == "dropoff" and last["eta_source"] == "road"
    assert last["left_m"] == pytest.approx(route.length_m * 0.5, rel=0.05)
    assert last["left_m"] < first["left_m"] and _at(last["eta_at"]) >= utcnow() - timedelta(seconds=30)


def test_positions_to_pickup_say_straight_line_until_the_leg_is_routed_then_road(live, app, world, session):
    trip = _en_route(world, session, pickup=LONNROTINKATU_7)
    watch = _Watch(live, world.api_tokens["dan"])
    device = _device(live, world)
    start = utcnow() - timedelta(seconds=60)
    try:
        _send(device, 1, STATION, start)
        before = watch.fix(1)
        # The sweep's step, run here on the same database (the server's own sweep may beat it: the same leg).
        legs.refresh(session, app.extensions["escort"].router, now=utcnow())
        leg = _leg(session, trip)
        assert leg is not None and leg.distance_m > 500
        on_leg = leg.points[len(leg.points) // 2]
        _send(device, 2, on_leg, start + timedelta(seconds=40))
        after = watch.fix(2)
    finally:
        device.disconnect()
        watch.client.disconnect()
    assert before["trip_id"] == after["trip_id"] == trip.id
    assert before["eta_to"] == "pickup" and before["eta_source"] == "straight line"
    assert after["eta_to"] == "pickup" and after["eta_source"] == "road"
    assert 0 < after["left_m"] < leg.distance_m * 0.8
    assert _at(after["eta_at"]) < _at(before["eta_at"]) + timedelta(seconds=60)
