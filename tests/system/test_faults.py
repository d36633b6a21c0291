"""Faults on real processes: the database cut away, Redis cut away, the server SIGKILLed mid-stream."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
import socketio as sio
from sqlmodel import Session, select

from app.db import utcnow
from app.times import iso_z
from dispatch.models import Alert
from tests.factories import ROUTE, fix_payload
from tests.live import LiveServer
from tests.system.conftest import (
    REDIS_HOST,
    REDIS_PORT,
    Dispatcher,
    TcpProxy,
    database_url_via,
    device_client,
    payload,
    pg_target,
    two_processes,
    wait_for,
)
from tracking.devices import create_device
from tracking.models import Fix
from tracking.simulator import Detour, Scenario, generate


def get_json(url: str, timeout: float = 5) -> tuple[int, dict]:
    """GET a JSON document; return (status, body) for errors too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def get_json_auth(url: str, token: str) -> tuple[int, list | dict]:
    """GET a JSON document with a bearer token; return (status, body)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def post_fixes(url: str, token: str, payloads: list[dict]) -> tuple[int, dict, str | None]:
    """POST fixes to /api/v1/fixes; return (status, body, Retry-After)."""
    request = urllib.request.Request(f"{url}/api/v1/fixes", data=json.dumps(payloads).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), resp.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), exc.headers.get("Retry-After")


def osmand(url: str, token: str, payload: dict) -> int:
    """Send one fix the way the Traccar Client does (OsmAnd query string); return the status."""
    query = urllib.parse.urlencode({"id": token, "lat": payload["lat"], "lon": payload["lon"],
                                    "timestamp": payload["ts"]})
    try:
        with urllib.request.urlopen(f"{url}/osmand?{query}", data=b"", timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def stored_seqs(app, device_id: int) -> list[int]:
    """Return the device's stored seqs in order, read directly (not through the server)."""
    with Session(app.extensions["escort"].engine) as s:
        return list(s.exec(select(Fix.seq).where(Fix.device_id == device_id).order_by(Fix.seq)).all())


def test_database_cut_away_acks_retry_and_the_server_recovers_by_itself(app, world, own_database, tmp_path):
    start = utcnow() - timedelta(seconds=60)
    payloads = [fix_payload(i, lat=51.5007 + i * 1e-5, ts=start + timedelta(seconds=i)) for i in range(1, 31)]
    with TcpProxy(pg_target(own_database)) as proxy, \
            LiveServer(database_url_via(own_database, proxy), tmp_path, ESCORT_SWEEP_INTERVAL_S="0.5") as server:
        device = sio.Client(reconnection=False)
        device.connect(server.url, namespaces=["/device"], auth={"token": world.device_token},
                       transports=["websocket"], wait_timeout=10)
        try:
            before = [device.call("fix", p, namespace="/device", timeout=10) for p in payloads[:10]]
            assert before == [{"ok": True, "seq": i} for i in range(1, 11)]

            proxy.cut()
            during = [device.call("fix", p, namespace="/device", timeout=15) for p in payloads[10:20]]
            batch = device.call("fixes", payloads[10:20], namespace="/device", timeout=15)
            status, health = get_json(f"{server.url}/healthz")
            http_status, http_body, retry_after = post_fixes(server.url, world.device_token, payloads[10:12])
            osmand_status = osmand(server.url, world.device_token, payloads[12])
            newcomer, refusal = sio.Client(reconnection=False), []
            newcomer.on("connect_error", refusal.append, namespace="/device")
            with pytest.raises(sio.exceptions.ConnectionError):
                newcomer.connect(server.url, namespaces=["/device"], auth={"token": world.device_token},
                                 transports=["websocket"], wait_timeout=10)

            proxy.restore()
            # The device keeps what was not acknowledged and sends it again, as a tablet does.
            unacked = [p for p, ack in zip(payloads[10:20], during) if not ack.get("ok")]
            wait_for(lambda: get_json(f"{server.url}/healthz")[0] == 200, 20, "/healthz to answer 200 again")
            after = [device.call("fix", p, namespace="/device", timeout=10) for p in unacked + payloads[20:]]
        finally:
            device.disconnect()
    assert all(a["ok"] is False and a["retry"] is True and "database" in a["error"] for a in during), during
    assert [a["seq"] for a in during] == list(range(11, 21))
    assert batch["ok"] is False and batch["retry"] is True and batch["accepted"] == []
    assert refusal and "database unavailable" in refusal[0]["message"], refusal
    assert (http_status, http_body["retry"], retry_after) == (503, True, "5"), http_body
    assert osmand_status == 503, "an OsmAnd tracker (Traccar Client) resends what was not answered 200"
    assert status == 503 and health["database"].startswith("unreachable"), health
    assert after == [{"ok": True, "seq": i} for i in range(11, 31)]
    assert stored_seqs(app, world.device.id) == list(range(1, 31)), "every fix once, none acknowledged lost"


@pytest.mark.parametrize("fault", ["cut", "freeze"])
def test_redis_away_each_process_serves_its_own_clients_and_says_so(fault, app, world, session, tmp_path):
    """Redis gone (connections reset) or hanging (a partition: nothing answers, nothing resets)."""
    other, other_token = create_device(session, "second-phone", None, now=utcnow())
    session.commit()
    start = utcnow() - timedelta(seconds=60)

    def fixes(first: int, last: int) -> list[dict]:
        return [fix_payload(i, lat=51.5007 + i * 1e-5, ts=start + timedelta(seconds=i)) for i in range(first, last + 1)]

    def seqs(watcher: Dispatcher, device_id: int) -> set[int]:
        return {f["seq"] for f in watcher.positions if f["device_id"] == device_id}

    with TcpProxy((REDIS_HOST, REDIS_PORT)) as proxy, \
            two_processes(app, tmp_path, redis_url=f"redis://127.0.0.1:{proxy.port}/0") as (a, b):
        watch_a, watch_b = Dispatcher(a.url, world.api_tokens["dan"]), Dispatcher(b.url, world.api_tokens["ada"])
        on_a, on_b = device_client(a.url, world.device_token), device_client(b.url, other_token)
        try:
            for p in fixes(1, 5):
                on_a.call("fix", p, namespace="/device", timeout=10)
                on_b.call("fix", p, namespace="/device", timeout=10)
            for watcher in (watch_a, watch_b):  # Redis up: every screen sees both devices
                wait_for(lambda w=watcher: len(seqs(w, world.device.id)) == len(seqs(w, other.id)) == 5, 10,
                         "both devices on both screens")

            proxy.cut() if fault == "cut" else proxy.freeze()
            acks, acked_at = [], {}
            for p in fixes(6, 15):
                acks.append((on_a.call("fix", p, namespace="/device", timeout=10),
                             on_b.call("fix", p, namespace="/device", timeout=10)))
                acked_at[p["seq"]] = time.monotonic()
                time.sleep(0.1)
            wait_for(lambda: seqs(watch_a, world.device.id) >= set(range(6, 16)), 10, "A's screen to see A's device")
            wait_for(lambda: seqs(watch_b, other.id) >= set(range(6, 16)), 10, "B's screen to see B's device")
            health = [get_json(f"{s.url}/healthz") for s in (a, b)]
            delays_s = [watch_a.arrived[(world.device.id, n)] - acked_at[n] for n in range(6, 16)]
            crossed = (seqs(watch_a, other.id) | seqs(watch_b, world.device.id)) & set(range(6, 16))

            proxy.restore()
            began = time.monotonic()
            for p in fixes(16, 200):  # until the fan-out crosses processes again
                on_b.call("fix", p, namespace="/device", timeout=10)
                if max(seqs(watch_a, other.id)) >= 16:
                    break
                time.sleep(0.2)
            recovered_s = time.monotonic() - began
            wait_for(lambda: all(get_json(f"{s.url}/healthz")[1]["fan_out"] == "all processes" for s in (a, b)), 15,
                     "both processes to report the fan-out whole again")
            healed_s = time.monotonic() - began
            healed = [get_json(f"{s.url}/healthz")[1] for s in (a, b)]
        finally:
            for client in (on_a, on_b, watch_a.client, watch_b.client):
                client.disconnect()
    assert all(x["ok"] and y["ok"] for x, y in acks), acks
    assert not crossed, "with Redis cut, nothing can cross between processes"
    print(f"redis {fault}: local fan-out delay max {max(delays_s):.2f} s; fixes crossed again {recovered_s:.1f} s "
          f"and /healthz said so {healed_s:.1f} s after restore")
    assert max(delays_s) < 2, f"own screens stay live while Redis is away (delays {delays_s})"
    for status, body in health:
        assert status == 200, "the process still serves"
        assert body["status"] == "degraded" and body["redis"].startswith("unreachable"), body
        assert body["fan_out"] == "this process only" and body["database"] == "ok"
    assert recovered_s < 15, "the fan-out heals by itself once Redis is back"
    assert [(h["status"], h["fan_out"]) for h in healed] == [("ok", "all processes")] * 2, healed


N_DEVICES, FIXES_EACH, IN_FLIGHT = 100, 40, 3


class Fleet:
    """100 devices over real Socket.IO connections, each resending whatever it was not told ``ok`` about."""

    def __init__(self, url: str, tokens: list[str], traces: list[list[dict]]) -> None:
        self.url, self.tokens, self.traces = url, tokens, traces
        self.acked: list[set[int]] = [set() for _ in tokens]
        self.sends: list[dict[int, int]] = [{} for _ in tokens]  # seq -> times sent
        self.errors: list[str] = []
        self.reconnects = 0
        self.thread = threading.Thread(target=lambda: asyncio.run(self._all()), daemon=True)

    def acked_total(self) -> int:
        """Return how many fixes have been acknowledged ``ok``."""
        return sum(len(a) for a in self.acked)

    async def _all(self) -> None:
        """Drive every device to the end of its trace."""
        await asyncio.gather(*(self._device(i) for i in range(len(self.tokens))))

    async def _connect(self, i: int) -> sio.AsyncClient:
        """Connect device ``i``, retrying while the server is down (as a phone does)."""
        deadline = time.monotonic() + 60
        while True:
            client = sio.AsyncClient(reconnection=False)
            try:
                await client.connect(self.url, namespaces=["/device"], auth={"token": self.tokens[i]},
                                     transports=["websocket"], wait_timeout=5)
                return client
            except sio.exceptions.ConnectionError:
                if client.eio.http is not None and not client.eio.http.closed:
                    await client.eio.http.close()  # a failed connect leaves its HTTP session open
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def _device(self, i: int) -> None:
        """Send the trace a few fixes in flight at a time; after a failure reconnect and resend the unacked."""
        client = await self._connect(i)
        try:
            while pending := [p for p in self.traces[i] if p["seq"] not in self.acked[i]]:
                window = pending[:IN_FLIGHT]
                for p in window:
                    self.sends[i][p["seq"]] = self.sends[i].get(p["seq"], 0) + 1
                acks = await asyncio.gather(*(client.call("fix", p, namespace="/device", timeout=3) for p in window),
                                            return_exceptions=True)
                for ack in acks:
                    if isinstance(ack, dict) and ack.get("ok"):
                        self.acked[i].add(ack["seq"])
                    elif isinstance(ack, dict):
                        self.errors.append(f"device {i}: {ack}")
                if any(isinstance(ack, Exception) for ack in acks):
                    await client.disconnect()
                    client = await self._connect(i)
                    self.reconnects += 1
                await asyncio.sleep(0.05)
        finally:
            await client.disconnect()


def open_alert_keys(app) -> dict[int, tuple]:
    """Return the open alerts as id -> (trip, device, kind), read directly from the database."""
    with Session(app.extensions["escort"].engine) as s:
        rows = s.exec(select(Alert).where(Alert.resolved_at.is_(None))).all()
        return {a.id: (a.trip_id, a.device_id, a.kind) for a in rows}


def test_sigkill_mid_stream_loses_no_fix_stores_none_twice_and_keeps_open_alerts(app, world, session, tmp_path):
    now = utcnow()
    devices = [create_device(session, f"fleet-{i}", None, now=now) for i in range(N_DEVICES)]
    session.commit()
    start = now - timedelta(seconds=FIXES_EACH + 30)
    traces = []
    for i, (device, _) in enumerate(devices):
        # Four devices drive a trip and leave its route early on: deviation alerts open before the crash.
        detour = Detour(0, 10_000, 200) if i < 4 else None
        fixes = generate(Scenario(route=ROUTE, detour=detour), start, seed=100 + i)[:FIXES_EACH]
        traces.append([payload(f) for f in fixes])
    trips = [world.make_trip(escort="emil", device=devices[i][0].id) for i in range(4)]
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    fleet = Fleet("", [token for _, token in devices], traces)
    with LiveServer(url, tmp_path) as server:
        fleet.url = server.url
        panics = []
        for i in range(4, 9):  # five panics on devices without a trip: open device alerts
            client = device_client(server.url, devices[i][1])
            panics.append(client.call("panic", {"ts": iso_z(utcnow())}, namespace="/device", timeout=10))
            client.disconnect()
        fleet.thread.start()
        wait_for(lambda: fleet.acked_total() >= N_DEVICES * FIXES_EACH // 3
                 and sum(k[2] == "deviation" for k in open_alert_keys(app).values()) == 4,
                 60, "a third of the stream acknowledged and the four deviations open")
        server.crash()
        crashed_at = time.monotonic()
        acked_before = [set(a) for a in fleet.acked]
        stored_before = {d.id: set(stored_seqs(app, d.id)) for d, _ in devices}
        open_before = open_alert_keys(app)
        time.sleep(1.0)  # devices find the server gone
        server.start()
        restarted_s = time.monotonic() - crashed_at
        status, listed = get_json_auth(f"{server.url}/api/v1/alerts?open=1", world.api_tokens["dan"])
        fleet.thread.join(90)
        finished = not fleet.thread.is_alive()

    assert finished, "every device finished its trace after the restart"
    assert panics == [{"ok": True}] * 5
    assert not fleet.errors, fleet.errors[:5]
    assert fleet.reconnects > 0, "the crash cut the devices off mid-stream"
    for i, (device, _) in enumerate(devices):
        seqs = stored_seqs(app, device.id)
        assert seqs == [p["seq"] for p in traces[i]], f"device {i}: every fix stored exactly once"
        assert acked_before[i] <= stored_before[device.id], f"device {i}: a fix acknowledged before the crash was lost"
    lost_acks = sum(len(stored_before[d.id] - acked_before[i]) for i, (d, _) in enumerate(devices))
    resent = sum(n - 1 for sends in fleet.sends for n in sends.values())
    print(f"sigkill: {fleet.acked_total()} fixes, {sum(map(len, acked_before))} acked before the crash, "
          f"{lost_acks} stored but unacknowledged at the crash, {resent} resent, restart {restarted_s:.1f} s")
    assert status == 200 and {a["id"] for a in listed} >= set(open_before), "alerts open before are open after"
    assert open_alert_keys(app) == open_before, "the same alerts open at the end: none lost, none doubled"
    assert sorted(k[2] for k in open_before.values()) == ["deviation"] * 4 + ["panic"] * 5
    with Session(app.extensions["escort"].engine) as s:
        for trip in trips:
            kinds = s.exec(select(Alert.kind).where(Alert.trip_id == trip.id)).all()
            assert kinds == ["deviation"], f"trip {trip.id}: one deviation, carried over the crash ({kinds})"
