"""A repeat is the same fix (device, seq and time); a seq sent again at another time is a new fix, stored and counted (#17)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
import requests
import socketio as sio
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func
from sqlmodel import Session, select

from app.db import utcnow
from tests.factories import ROUTE, World, fix_payload
from dispatch import ingest
from tracking.devices import DeviceRef
from tracking.models import Fix


def _reused_total(url: str) -> float:
    """Read escort_fix_seq_reused_total from /metrics (from loopback, which needs no token)."""
    resp = requests.get(f"{url}/metrics", timeout=5)
    assert resp.status_code == 200, resp.text
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            if sample.name == "escort_fix_seq_reused_total":
                return sample.value
    raise AssertionError("escort_fix_seq_reused_total is not in /metrics")


def _send(live, token: str, how: str, fixes: list[dict]) -> list[int]:
    """Send fixes as a device does (one ``fix`` event each, one ``fixes`` batch, or POST /api/v1/fixes); return the acked seqs."""
    if how == "http":
        resp = requests.post(f"{live.url}/api/v1/fixes", json=fixes, headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()["accepted"]
    dev = sio.Client(reconnection=False)
    dev.connect(live.url, namespaces=["/device"], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    try:
        if how == "fix":
            acks = [dev.call("fix", f, namespace="/device", timeout=10) for f in fixes]
            assert all(a["ok"] for a in acks), acks
            return [a["seq"] for a in acks]
        ack = dev.call("fixes", fixes, namespace="/device", timeout=10)
        assert ack["ok"] and ack["rejected"] == [], ack
        return ack["accepted"]
    finally:
        dev.disconnect()


def _track(session: Session, trip_id: int) -> list[tuple[int, object]]:
    """Return the trip's stored (seq, ts), in time order."""
    session.expire_all()
    return [tuple(r) for r in session.exec(select(Fix.seq, Fix.ts).where(Fix.trip_id == trip_id).order_by(Fix.ts))]


@pytest.mark.parametrize("how", ["fix", "fixes", "http"])
def test_a_counter_that_starts_again_loses_nothing(live, world, session, how):
    """The issue's reproduction: seq 1-5, then five new positions at new times with seq 1-5 again."""
    t0 = utcnow() - timedelta(minutes=5)
    first = [fix_payload(s, lat=ROUTE[0][0] + s * 1e-5, lon=ROUTE[0][1], ts=t0 + timedelta(seconds=s))
             for s in range(1, 6)]
    again = [fix_payload(s, lat=ROUTE[0][0] + (10 + s) * 1e-5, lon=ROUTE[0][1], ts=t0 + timedelta(seconds=60 + s))
             for s in range(1, 6)]
    before = _reused_total(live.url)
    assert _send(live, world.device_token, how, first) == [1, 2, 3, 4, 5]
    assert _send(live, world.device_token, how, again) == [1, 2, 3, 4, 5]
    assert _send(live, world.device_token, how, [dict(first[2])]) == [3]  # a true repeat: same seq, same time
    track = _track(session, world.trip.id)
    assert [seq for seq, _ in track] == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]
    assert len(set(track)) == 10
    assert _reused_total(live.url) - before == 5


def test_a_reset_within_one_batch_is_stored_and_counted(app, world, session):
    """One HTTP batch holding seq 1-3 twice at different times, and one true repeat: six rows, three reuses."""
    t0 = utcnow() - timedelta(minutes=5)
    batch = [fix_payload(s, ts=t0 + timedelta(seconds=s)) for s in (1, 2, 3)]
    batch += [fix_payload(s, ts=t0 + timedelta(seconds=30 + s)) for s in (1, 2, 3)] + [dict(batch[0])]
    result = ingest.accept_payloads(session, world.device, batch, now=utcnow())
    assert sorted(result.accepted) == [1, 1, 1, 2, 2, 3, 3]
    assert len(result.stored) == 6 and result.reused == 3
    assert len(_track(session, world.trip.id)) == 6


# --- a backlog costs a constant number of statements ----------------------------------------


class Statements:
    """Count every statement the engine's connections run: through SQLAlchemy, and (SQLite) on the driver itself."""

    def __init__(self, engine, session: Session) -> None:
        self.engine, self.orm, self.driver = engine, 0, 0
        event.listen(engine, "before_cursor_execute", self._orm)
        dbapi = session.connection().connection.dbapi_connection
        self.sqlite = isinstance(dbapi, sqlite3.Connection)
        if self.sqlite:  # rawsql.py runs its statements on the driver cursor, past SQLAlchemy's events
            dbapi.set_trace_callback(self._driver)
        self._dbapi = dbapi

    def _orm(self, *_args) -> None:
        self.orm += 1

    def _driver(self, sql: str) -> None:
        if not sql.lstrip().startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK")):
            self.driver += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._orm)
        if self.sqlite:
            self._dbapi.set_trace_callback(None)


def _ended_world(app, session: Session) -> tuple[World, list]:
    """A device whose two trips ended within the last hours, and nothing under way."""
    w = World.build(app, session, trip_status="completed")
    now = utcnow()
    older = w.make_trip(status="completed")
    w.users["escort"].on_duty = True  # off duty, a fix between the trips would be refused, not stored
    session.add(w.users["escort"])
    for trip, (start_h, end_h) in ((older, (4, 2.5)), (w.trip, (2, 1))):
        trip.started_at, trip.ended_at = now - timedelta(hours=start_h), now - timedelta(hours=end_h)
        session.add(trip)
    session.commit()
    return w, [older, w.trip]


def _backlog(n: int, *, seq0: int) -> list[dict]:
    """Return n fixes spread over the last five hours: in either trip's window, between them, and after."""
    start = utcnow() - timedelta(hours=5)
    step = timedelta(hours=4.9) / n
    return [fix_payload(seq0 + i, ts=start + i * step) for i in range(n)]


def _statements_for(app, device, raws, path: str) -> tuple[int, int, ingest.IngestResult]:
    """Run the fixes through the HTTP path or a Socket.IO group; return the statements counted and the result."""
    engine = app.extensions["escort"].engine
    with Session(engine) as own:
        counter = Statements(engine, own)
        try:
            if path == "http":
                result = ingest.accept_payloads(own, device, raws, now=utcnow())
            else:
                pending = ingest.pending(device=DeviceRef(device.id, device.escort_user_id), raws=raws, now=utcnow(),
                                          limits=ingest.Limits(), trip_cache=None, zone_cache=None)
                ingest.run_group(own, [pending])
                own.commit()
                result = pending.result
        finally:
            counter.close()
    return counter.orm, counter.driver, result


@pytest.mark.parametrize("path", ["http", "group"])
def test_a_backlog_of_a_thousand_fixes_costs_what_ten_cost(app, session, path):
    w, (older, newer) = _ended_world(app, session)
    small = _statements_for(app, w.device, _backlog(10, seq0=1), path)
    large = _statements_for(app, w.device, _backlog(1000, seq0=100), path)
    assert len(small[2].stored) == 10 and len(large[2].stored) == 1000
    assert large[:2] == small[:2], f"statements (through SQLAlchemy, on the driver): 10 fixes {small[:2]}, 1000 {large[:2]}"
    assert large[0] <= 10
    session.expire_all()
    counts = dict(session.exec(select(Fix.trip_id, func.count()).where(Fix.seq >= 100).group_by(Fix.trip_id)).all())
    assert all(counts.get(key, 0) > 100 for key in (older.id, newer.id, None)), counts
    # Each late fix went to the trip whose window holds it, the rest to none.
    for fix in session.exec(select(Fix).where(Fix.seq >= 100)).all():
        holder = next((t for t in (older, newer) if t.started_at <= fix.ts <= t.ended_at), None)
        assert fix.trip_id == (holder.id if holder else None), fix
