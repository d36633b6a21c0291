"""End to end on a real gunicorn (gevent) server with real Socket.IO clients over TCP."""

from __future__ import annotations

import threading
import time

import pytest
import socketio as sio
from sqlmodel import Session, func, select

from tests.factories import fix_payload


def test_device_fixes_reach_a_dispatcher_over_real_sockets(live, world, app):
    received: list[dict] = []
    snapshot: dict = {}
    got_all = threading.Event()
    dispatcher = sio.Client(reconnection=False)

    @dispatcher.on("snapshot", namespace="/dispatch")
    def _snap(data):
        snapshot.update(data)

    @dispatcher.on("positions", namespace="/dispatch")
    def _pos(data):
        received.extend(data["fixes"])
        if len(received) >= 20:
            got_all.set()

    dispatcher.connect(live.url, namespaces=["/dispatch"], auth={"token": world.api_tokens["dan"]},
                       transports=["websocket"], wait_timeout=10)
    device = sio.Client(reconnection=False)
    device.connect(live.url, namespaces=["/device"], auth={"token": world.device_token},
                   transports=["websocket"], wait_timeout=10)
    try:
        acks = [device.call("fix", fix_payload(i, lat=51.5007 + i * 1e-5), namespace="/device", timeout=10)
                for i in range(1, 21)]
        assert acks == [{"ok": True, "seq": i} for i in range(1, 21)]
        assert got_all.wait(10), f"dispatcher got {len(received)} of 20"
    finally:
        device.disconnect()
        dispatcher.disconnect()
    assert [t["id"] for t in snapshot["trips"]] == [world.trip.id]
    assert [f["seq"] for f in received] == list(range(1, 21))
    assert received[-1]["lat"] == pytest.approx(51.5007 + 20e-5)
    with Session(app.extensions["escort"].engine) as s:
        from tracking.models import Fix

        assert s.exec(select(func.count()).select_from(Fix)).one() == 20


def test_bad_token_is_refused_by_the_real_server(live):
    device = sio.Client(reconnection=False)
    with pytest.raises(sio.exceptions.ConnectionError):
        device.connect(live.url, namespaces=["/device"], auth={"token": "esd_nope"}, transports=["websocket"],
                       wait_timeout=5)
    time.sleep(0.1)
