"""Socket.IO packets the JSON decoder refuses get an error ack on every /device event, over a real socket."""

from __future__ import annotations

import json

import pytest
import socketio as sio
from socketio.packet import Packet


PLACEHOLDER = "\u2063raw\u2063"
DEEP = "[" * 5000 + "]" * 5000  # deeper than Python's recursion limit
HUGE_INT = "9" * 150  # engine.io refuses integers of more than 100 digits


class RawJSON:
    """The test client's JSON: the placeholder string is replaced by raw JSON text (no client can build it)."""

    raw = ""
    loads = staticmethod(json.loads)

    @staticmethod
    def dumps(obj, **kwargs):
        return json.dumps(obj, **kwargs).replace(json.dumps(PLACEHOLDER), RawJSON.raw)


class RawPacket(Packet):
    json = RawJSON


@pytest.mark.parametrize("raw", [HUGE_INT, DEEP, '{"seq": ' + HUGE_INT + "}", '{"pin": ' + DEEP + "}"],
                         ids=["huge int", "deep list", "huge int in a dict", "deep list in a dict"])
def test_an_unreadable_payload_is_answered_with_an_error_ack_on_every_event(live, world, raw):
    dev = sio.Client(reconnection=False, serializer=RawPacket)
    dev.connect(live.url, namespaces=["/device"], auth={"token": world.device_token}, transports=["websocket"],
                wait_timeout=10)
    RawJSON.raw = raw
    try:
        for event in ("fix", "fixes", "status", "panic", "checkin"):
            ack = dev.call(event, PLACEHOLDER, namespace="/device", timeout=10)
            assert ack["ok"] is False and "could not be read" in ack["error"], (event, ack)
        # The connection carries on: a good fix after the bad ones is stored.
        RawJSON.raw = json.dumps(PLACEHOLDER)
        ack = dev.call("fix", {"seq": 1, "lat": 51.5007, "lon": -0.1246, "ts": "2020-01-01T00:00:00Z"},
                       namespace="/device", timeout=10)
        assert ack["ok"] is False and "ts" in ack["error"]  # answered by the real pipeline (too old)
    finally:
        dev.disconnect()
    log = live.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
