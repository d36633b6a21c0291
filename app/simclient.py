"""Simulated escorts over real Socket.IO connections, for ``escort demo`` and ``escort simulate``."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable

import socketio

from app.times import iso_z
from tracking.fix import Fix
from tracking.simulator import Scenario, generate

log = logging.getLogger(__name__)


@dataclass
class Driver:
    """One simulated device: its token and the fixes it will send."""

    token: str
    fixes: list[Fix]


@dataclass
class SimStats:
    """What a run did, summed over drivers."""

    sent: int = 0
    acked: int = 0
    rejected: int = 0
    queued: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def fixes_per_s(self) -> float:
        """Return acknowledged fixes per second of the run."""
        return self.acked / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add(self, **counts: int) -> None:
        """Add to the counters (threads share one SimStats)."""
        with self.lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)


def _wire(fix: Fix, ts: datetime) -> dict:
    """Return the /device payload of a fix re-dated to ``ts``."""
    return {"seq": fix.seq, "lat": round(fix.lat, 7), "lon": round(fix.lon, 7),
            "ts": iso_z(ts), "accuracy_m": fix.accuracy_m,
            "speed_mps": fix.speed_mps, "heading_deg": fix.heading_deg, "battery_pct": fix.battery_pct}


class _DriverRun:
    """Replays one driver's fixes in (scaled) real time; unsent fixes wait in a queue."""

    def __init__(self, url: str, driver: Driver, wall_start: float, ts_origin: datetime, speedup: float,
                 stats: SimStats, stop: threading.Event, linger_s: float | None = None) -> None:
        self.url, self.driver, self.stats, self.stop = url, driver, stats, stop
        self.wall_start, self.ts_origin, self.speedup = wall_start, ts_origin, speedup
        self.queue: list[dict] = []
        self.linger_s = linger_s
        self.client = socketio.Client(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=5)

    def run(self) -> None:
        """Connect, send every fix on time, flush what was queued, disconnect."""
        try:
            self.client.connect(self.url, namespaces=["/device"], auth={"token": self.driver.token},
                                transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            log.error("simulator could not connect: %s", exc)
            self.stats.add(errors=1)
            return
        first_ts = self.driver.fixes[0].ts
        for fix in self.driver.fixes:
            offset_s = (fix.ts - first_ts).total_seconds()
            if self.stop.wait(max(0.0, self.wall_start + offset_s / self.speedup - time.monotonic())):
                break
            self.queue.append(_wire(fix, self.ts_origin + timedelta(seconds=offset_s)))
            self._send()
        deadline = time.monotonic() + 30
        while self.queue and not self.stop.is_set() and time.monotonic() < deadline:
            self._send()
            time.sleep(0.5)
        if self.linger_s:
            self._linger(self.driver.fixes[-1])
        self.stats.add(queued=len(self.queue))
        self.client.disconnect()

    def _linger(self, last: Fix) -> None:
        """Stay parked where the drive ended, reporting every ``linger_s`` until told to stop.

        A real phone keeps reporting at the destination; without this the demo's trips would
        fall silent and, minutes later, rightly raise signal_lost.
        """
        seq = last.seq
        while not self.stop.wait(self.linger_s):
            seq += 1
            self.queue.append(_wire(replace(last, seq=seq, speed_mps=0.0), datetime.now(timezone.utc)))
            self._send()

    def _send(self) -> None:
        """Send the queue: one ``fix`` when it holds one, a ``fixes`` batch after an outage."""
        if not self.queue or not self.client.connected:
            return
        batch = self.queue[:200]
        try:
            if len(batch) == 1:
                ack = self.client.call("fix", batch[0], namespace="/device", timeout=10)
                done = {batch[0]["seq"]}
                accepted = 1 if ack.get("ok") else 0
                rejected = 0 if ack.get("ok") else 1
            else:
                ack = self.client.call("fixes", batch, namespace="/device", timeout=20)
                done = set(ack["accepted"]) | {r["seq"] for r in ack["rejected"]}
                accepted, rejected = len(set(ack["accepted"])), len(ack["rejected"])
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError,
                socketio.exceptions.DisconnectedError):
            self.stats.add(errors=1)
            return  # kept in the queue, sent again once the connection is back
        self.queue = [f for f in self.queue if f["seq"] not in done]
        self.stats.add(sent=len(batch), acked=accepted, rejected=rejected)


def run(url: str, drivers: list[Driver], *, speedup: float = 1.0, duration_s: float | None = None,
        progress: Callable[[str], None] | None = print, stop_event: threading.Event | None = None,
        linger_s: float | None = None) -> SimStats:
    """Replay every driver against ``url`` at once; return the summed figures.

    Timestamps: with speedup 1 the fixes are re-dated to start now. With speedup N the
    simulated clock runs N times faster than the wall clock, so fixes re-dated from now
    would soon lie in the future, which the server refuses. They are anchored in the past
    instead, at now - T(1 - 1/N) for a replay of T simulated seconds: the k-th fix then
    carries now - T(1 - 1/N) + t_k and is sent at wall time now + t_k / N, never later than it.
    With ``linger_s`` each device stays parked at its last position, reporting, until stopped.
    """
    stop = stop_event or threading.Event()
    stats = SimStats()
    span_s = max(((d.fixes[-1].ts - d.fixes[0].ts).total_seconds() for d in drivers if d.fixes), default=0.0)
    if duration_s is not None:
        span_s = min(span_s, duration_s * speedup)
    wall_start = time.monotonic() + 0.5
    ts_origin = datetime.now(timezone.utc) - timedelta(seconds=span_s * (1 - 1 / speedup))
    runs = [_DriverRun(url, d, wall_start, ts_origin, speedup, stats, stop, linger_s) for d in drivers if d.fixes]
    threads = [threading.Thread(target=r.run, daemon=True) for r in runs]
    for t in threads:
        t.start()
    timer = None
    if duration_s is not None:
        timer = threading.Timer(duration_s + 1.0, stop.set)
        timer.daemon = True
        timer.start()
    began = time.monotonic()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=5.0 / max(1, len(threads)))
            if progress and any(t.is_alive() for t in threads):
                progress(f"sim: {len(runs)} devices, {stats.acked} fixes acked, {stats.rejected} rejected, "
                         f"{sum(len(r.queue) for r in runs)} queued")
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(timeout=5)
    finally:
        if timer:
            timer.cancel()
    stats.elapsed_s = time.monotonic() - began
    return stats


def synthetic_drivers(tokens: list[str], *, duration_s: float, rate_hz: float, seed: int = 1,
                      around: tuple[float, float] = (51.5074, -0.1278)) -> list[Driver]:
    """Return one driver per token, each circling its own loop near ``around`` for ``duration_s``."""
    drivers = []
    now = datetime.now(timezone.utc)
    for i, token in enumerate(tokens):
        angle = 2 * math.pi * i / max(1, len(tokens))
        clat = around[0] + 0.02 * math.sin(angle)
        clon = around[1] + 0.03 * math.cos(angle)
        loop = tuple((clat + 0.006 * math.sin(2 * math.pi * k / 24), clon + 0.009 * math.cos(2 * math.pi * k / 24))
                     for k in range(25))
        scenario = Scenario(route=loop, speed_mps=10.0, rate_hz=rate_hz)
        fixes: list[Fix] = []
        lap = 0
        while not fixes or (fixes[-1].ts - fixes[0].ts).total_seconds() < duration_s:
            start = fixes[-1].ts + timedelta(seconds=1 / rate_hz) if fixes else now
            for fix in generate(scenario, start, seed=seed + i * 1000 + lap):
                fixes.append(replace(fix, seq=len(fixes) + 1))
            lap += 1
        drivers.append(Driver(token, [f for f in fixes if (f.ts - now).total_seconds() <= duration_s]))
    return drivers

