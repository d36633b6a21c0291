"""An alert that clears itself stays on the dispatcher's list, marked cleared, until acknowledged."""

from __future__ import annotations

from datetime import timedelta

from app import realtime
from app.db import utcnow
from tests.factories import ROUTE, fix_payload, login


def _send(client, world, seq: int, lat: float, lon: float, ts) -> None:
    """Send one fix over HTTP as the trip's device."""
    resp = client.post("/api/v1/fixes", json=[fix_payload(seq, lat=lat, lon=lon, ts=ts)],
                       headers={"Authorization": f"Bearer {world.device_token}"})
    assert resp.json["accepted"] == [seq], resp.json


def stop_then_drive_on(client, world) -> None:
    """Stand still past the stop threshold (3 min by default) away from expected places, then drive on."""
    start = utcnow() - timedelta(minutes=10)
    lat, lon = ROUTE[2]
    for i in range(0, 240, 10):
        _send(client, world, 1 + i, lat, lon, start + timedelta(seconds=i))
    for n, (lat, lon) in enumerate(ROUTE[3:]):
        _send(client, world, 1000 + n, lat, lon, start + timedelta(seconds=300 + 40 * n))


def _alerts(client, world, query: str) -> list[dict]:
    resp = client.get(f"/api/v1/alerts?trip_id={world.trip.id}&{query}", headers=world.bearer("dan"))
    assert resp.status_code == 200, resp.json
    return resp.json


def test_a_stop_that_cleared_itself_is_listed_until_acknowledged(app, client, world):
    stop_then_drive_on(client, world)
    [stop] = [a for a in _alerts(client, world, "") if a["kind"] == "stop"]
    assert stop["state"] == "resolved" and stop["cleared"] is True and stop["cleared_at"] is not None
    assert stop["acknowledged_at"] is None
    # open=1 keeps its documented meaning (not resolved); unseen=1 is what the live map lists.
    assert [a["id"] for a in _alerts(client, world, "open=1") if a["kind"] == "stop"] == []
    assert [a["id"] for a in _alerts(client, world, "unseen=1")] == [stop["id"]]

    watcher = realtime.socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    [snapshot] = [m["args"][0] for m in watcher.get_received("/dispatch") if m["name"] == "snapshot"]
    assert [(a["id"], a["cleared"]) for a in snapshot["alerts"]] == [(stop["id"], True)]

    acked = client.post(f"/api/v1/alerts/{stop['id']}/ack", headers=world.bearer("dan"))
    assert acked.status_code == 200, acked.json
    assert acked.json["acknowledged_by"] == "dan" and acked.json["cleared"] is True
    assert _alerts(client, world, "unseen=1") == []
    again = realtime.socketio.test_client(app, namespace="/dispatch", auth={"token": world.api_tokens["dan"]})
    [snapshot] = [m["args"][0] for m in again.get_received("/dispatch") if m["name"] == "snapshot"]
    assert snapshot["alerts"] == []
    watcher.disconnect(namespace="/dispatch")
    again.disconnect(namespace="/dispatch")


def test_a_cleared_alert_is_acknowledged_not_resolved_and_a_resolved_one_stays_closed(client, world):
    stop_then_drive_on(client, world)
    [stop] = _alerts(client, world, "unseen=1")
    refused = client.post(f"/api/v1/alerts/{stop['id']}/resolve", json={"category": "false"},
                          headers=world.bearer("dan"))
    assert refused.status_code == 409 and "acknowledge" in refused.json["error"]
    assert client.post(f"/api/v1/alerts/{stop['id']}/ack", headers=world.bearer("dan")).status_code == 200
    assert client.post(f"/api/v1/alerts/{stop['id']}/ack", headers=world.bearer("dan")).status_code == 200
    closed = client.post(f"/api/v1/alerts/{stop['id']}/resolve", json={"category": "false"}, headers=world.bearer("dan"))
    assert closed.status_code == 409


def test_the_live_map_page_for_a_logged_in_dispatcher_still_lists_the_cleared_stop(app, client, world):
    stop_then_drive_on(client, world)
    login(client, "dan")
    assert client.get("/dispatch").status_code == 200
    watcher = realtime.socketio.test_client(app, namespace="/dispatch", flask_test_client=client)
    [snapshot] = [m["args"][0] for m in watcher.get_received("/dispatch") if m["name"] == "snapshot"]
    assert [a["kind"] for a in snapshot["alerts"]] == ["stop"]
    watcher.disconnect(namespace="/dispatch")
