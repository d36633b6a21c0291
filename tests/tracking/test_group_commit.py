"""Group commit on the /device path: many callers, one transaction, the same outcome as one by one."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, func, select

from app.db import utcnow
from dispatch import alerts, ingest
from dispatch.models import Alert
from tests.factories import ROUTE, fix_payload
from tracking import detection
from tracking.devices import DeviceRef, create_device
from tracking.models import Device, Fix, TripTrackState
from tracking.schemas import MAX_BATCH


def _engine(app):
    """Return the app's engine."""
    return app.extensions["escort"].engine


def _submit_together(app, group, calls: list[tuple]) -> list:
    """Submit (device, raws) pairs from one thread each, all at once; return results or exceptions."""
    ext = app.extensions["escort"]
    out: list = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def one(i: int, device, raws) -> None:
        with app.app_context():
            start.wait()
            try:
                out[i] = group.submit(ingest.pending(device=device, raws=raws, now=utcnow(), limits=ext.limits,
                                                      trip_cache=ext.active_trips, zone_cache=ext.zones))
            except Exception as exc:  # noqa: BLE001  (the test looks at it)
                out[i] = exc

    threads = [threading.Thread(target=one, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def _devices(session, world, count: int) -> list[DeviceRef]:
    """Register ``count`` devices with no trip and return them as the socket path holds them."""
    refs = []
    for i in range(count):
        device, _ = create_device(session, f"group-{i}", None, now=utcnow())
        refs.append(DeviceRef(device.id, None))
    session.commit()
    return refs


def _stored(session, **where) -> int:
    """Count stored fixes matching column=value filters."""
    query = select(func.count()).select_from(Fix)
    for key, value in where.items():
        query = query.where(getattr(Fix, key) == value)
    session.expire_all()
    return session.exec(query).one()


def test_concurrent_devices_share_one_transaction_and_each_is_committed_when_answered(app, world, session):
    refs = _devices(session, world, 6)
    group = ingest.group_commit(_engine(app), window_s=0.3)
    seen_at_return: list[int] = []
    original = group.submit

    def submit_and_look(pending):
        result = original(pending)
        with Session(_engine(app)) as other:  # a separate connection sees it: committed, not just flushed
            seen_at_return.append(other.exec(select(func.count()).select_from(Fix)
                                             .where(Fix.device_id == pending.work.batch.device.id)).one())
        return result

    group.submit = submit_and_look
    results = _submit_together(app, group, [(ref, [fix_payload(10 + i)]) for i, ref in enumerate(refs)])
    assert group.groups == 1
    assert [r.accepted for r in results] == [[10 + i] for i in range(6)]
    assert seen_at_return == [1] * 6
    assert _stored(session) == 6
    session.expire_all()
    assert sorted(d.last_seq for d in session.exec(select(Device).where(Device.id.in_([r.id for r in refs])))) \
        == list(range(10, 16))


def test_a_fix_repeated_within_a_group_is_stored_once_and_shown_once(app, world, session):
    [ref] = _devices(session, world, 1)
    group = ingest.group_commit(_engine(app), window_s=0.3)
    repeat = fix_payload(7)
    first, second = _submit_together(app, group, [(ref, [repeat]), (ref, [dict(repeat)])])
    assert group.groups == 1
    assert first.accepted == second.accepted == [7]
    assert len(first.stored) + len(second.stored) == 1
    assert first.reused + second.reused == 0
    assert _stored(session, device_id=ref.id) == 1


def test_a_seq_at_another_time_within_a_group_is_another_fix(app, world, session):
    """Two tablets on one token, both counting from 1: each one's fix is stored, one counted as a reuse."""
    [ref] = _devices(session, world, 1)
    group = ingest.group_commit(_engine(app), window_s=0.3)
    t0 = utcnow() - timedelta(seconds=30)
    first, second = _submit_together(app, group, [(ref, [fix_payload(7, ts=t0)]),
                                                  (ref, [fix_payload(7, ts=t0 + timedelta(seconds=2), lat=51.51)])])
    assert group.groups == 1
    assert first.accepted == second.accepted == [7]
    assert len(first.stored) == len(second.stored) == 1
    assert first.reused + second.reused == 1
    assert _stored(session, device_id=ref.id) == 2


def test_bad_input_in_a_group_is_refused_alone(app, world, session):
    refs = _devices(session, world, 2)
    group = ingest.group_commit(_engine(app), window_s=0.3)
    good, bad, big = _submit_together(app, group, [
        (refs[0], [fix_payload(1)]),
        (refs[1], [{"seq": 2, "lat": 200, "lon": 0, "ts": utcnow().isoformat()}]),
        (refs[1], [fix_payload(i) for i in range(MAX_BATCH + 1)]),
    ])
    assert good.accepted == [1] and not good.rejected
    assert bad.accepted == [] and bad.rejected[0]["seq"] == 2
    assert big.accepted == [] and len(big.rejected) == MAX_BATCH + 1
    assert _stored(session) == 1


def test_a_caller_that_breaks_the_transaction_fails_alone_and_the_others_are_stored(app, world, session):
    refs = _devices(session, world, 3)
    ghost = DeviceRef(999_999, None)  # no such device: its INSERT breaks the foreign key
    group = ingest.group_commit(_engine(app), window_s=0.3)
    results = _submit_together(app, group, [(refs[0], [fix_payload(1)]), (ghost, [fix_payload(2)]),
                                            (refs[1], [fix_payload(3)]), (refs[2], [fix_payload(4)])])
    assert isinstance(results[1], Exception)
    assert [results[i].accepted for i in (0, 2, 3)] == [[1], [3], [4]]
    assert _stored(session) == 3


def _drive(start, count: int, *, off_route_from: int, off_route_to: int) -> list[dict]:
    """Fixes every 10 s along the route, with a stretch 400 m north of it (a deviation)."""
    out = []
    for i in range(count):
        f = i / (count - 1)
        lat = ROUTE[0][0] + (ROUTE[-1][0] - ROUTE[0][0]) * f
        lon = ROUTE[0][1] + (ROUTE[-1][1] - ROUTE[0][1]) * f
        if off_route_from <= i < off_route_to:
            lat += 0.0036
        out.append(fix_payload(i + 1, lat=lat, lon=lon, ts=start + timedelta(seconds=10 * i), speed_mps=5.0))
    return out


def test_grouped_detection_raises_what_one_by_one_detection_raises(app, world, session):
    """The same drive on two trips: one fix at a time through accept, and in groups with another device."""
    emil = world.users["escort2"]
    phone, _ = create_device(session, "emil-phone", emil, now=utcnow())
    session.commit()
    twin = world.make_trip(escort="emil", device=phone.id)
    [bystander] = _devices(session, world, 1)
    drive = _drive(utcnow() - timedelta(minutes=10), 40, off_route_from=12, off_route_to=30)
    eve = DeviceRef(world.device.id, world.users["escort"].id)
    ext = app.extensions["escort"]
    for payload in drive:
        with app.app_context(), Session(_engine(app), expire_on_commit=False) as s:
            ingest.accept_payloads(s, eve, [payload], now=utcnow(), limits=ext.limits)
    group = ingest.group_commit(_engine(app), window_s=0.05)
    for payload in drive:
        results = _submit_together(app, group, [(DeviceRef(phone.id, emil.id), [payload]),
                                                (bystander, [{**payload, "lat": payload["lat"] + 0.1}])])
        assert all(r.accepted == [payload["seq"]] for r in results), results
    assert group.groups < 2 * len(drive)  # the two devices did share transactions

    def outcome(trip_id):
        session.expire_all()
        kinds = [(a.kind, a.resolved_at is not None) for a in
                 session.exec(select(Alert).where(Alert.trip_id == trip_id).order_by(Alert.id)).all()]
        state = session.get(TripTrackState, trip_id).state
        return kinds, state

    one_by_one, grouped = outcome(world.trip.id), outcome(twin.id)
    assert ("deviation", True) in one_by_one[0]  # the drive is worth comparing: it raised and cleared one
    assert grouped == one_by_one


def test_a_fresh_fix_in_a_group_clears_signal_lost(app, world, session):
    now = utcnow()
    alerts.raise_alert(session, trip_id=world.trip.id, device_id=world.device.id, kind="signal_lost",
                       detail={}, at=now, now=now)
    session.commit()
    group = ingest.group_commit(_engine(app), window_s=0.0)
    [result] = _submit_together(app, group, [(DeviceRef(world.device.id, world.users["escort"].id), [fix_payload(1)])])
    assert [(a.kind, a.resolved_at is not None) for a in result.alerts] == [("signal_lost", True)]
    assert not alerts.is_open(session, world.trip.id, world.device.id, "signal_lost")


def test_a_state_written_by_another_process_is_read_not_the_remembered_one(app, world, session):
    group = ingest.group_commit(_engine(app), window_s=0.0)
    eve = DeviceRef(world.device.id, world.users["escort"].id)
    start = utcnow() - timedelta(minutes=5)
    _submit_together(app, group, [(eve, [fix_payload(1, ts=start)])])
    # Another process moves the state on behind this one's back (its text differs from the one remembered).
    with Session(_engine(app)) as other:
        row = other.get(TripTrackState, world.trip.id)
        changed = {**row.state, "off_fixes": 2, "off_max_m": 123.0}
        other.execute(text("UPDATE trip_track_state SET state = :s WHERE trip_id = :t"),
                      {"s": json.dumps(changed, indent=1), "t": world.trip.id})
        other.commit()
    with Session(_engine(app)) as other:
        raw = other.execute(text("SELECT state FROM trip_track_state WHERE trip_id = :t"), {"t": world.trip.id}).scalar()
    raw = raw if isinstance(raw, str) else json.dumps(raw, indent=1)
    assert detection._decoded(world.trip.id, raw).off_max_m == 123.0
    assert detection._decoded(world.trip.id, raw) is detection._decoded(world.trip.id, raw)  # decoded once


def test_active_trips_reload_a_trip_only_when_it_changed(app, world, session):
    from dispatch import trips

    cache = ingest.ActiveTrips(ttl_s=0.0)  # every call asks the database which trip, and which version
    eve = DeviceRef(world.device.id, world.users["escort"].id)
    first = cache.get_many(session, [eve], now=utcnow())[eve.id]
    again = cache.get_many(session, [eve], now=utcnow())[eve.id]
    assert first.id == world.trip.id and again is first  # unchanged: not loaded again
    trip = session.get(type(world.trip), world.trip.id)
    trips.change_status(session, trip, "arrived_dropoff", world.users["dispatcher"], now=utcnow())
    session.commit()
    moved = cache.get_many(session, [eve], now=utcnow())[eve.id]
    assert moved is not first and moved.status == "arrived_dropoff"
    trips.change_status(session, trip, "completed", world.users["dispatcher"], now=utcnow())
    session.commit()
    assert cache.get_many(session, [eve], now=utcnow())[eve.id] is None


@pytest.mark.parametrize("count", [1, 3])
def test_grouped_path_over_the_socket_acks_and_stores(app, world, session, count):
    from app.realtime import socketio

    dev = socketio.test_client(app, namespace="/device", auth={"token": world.device_token})
    for seq in range(1, count + 1):
        assert dev.emit("fix", fix_payload(seq), namespace="/device", callback=True) == {"ok": True, "seq": seq}
    assert _stored(session, device_id=world.device.id) == count


def test_active_trips_younger_than_their_ttl_cost_no_query(app, world, session):
    """A device sending several fixes a second: its trip stands for ttl_s without even the watermark."""
    from tests.tracking.test_seq_reuse import Statements

    cache = ingest.ActiveTrips(ttl_s=60.0)
    eve = DeviceRef(world.device.id, world.users["escort"].id)
    now = utcnow()
    first = cache.get_many(session, [eve], now=now)[eve.id]
    counter = Statements(app.extensions["escort"].engine, session)
    try:
        again = cache.get_many(session, [eve], now=now + timedelta(seconds=1))[eve.id]
    finally:
        counter.close()
    assert first.id == world.trip.id and again is first
    assert (counter.orm, counter.driver) == (0, 0)
    later = cache.get_many(session, [eve], now=now + timedelta(seconds=61))[eve.id]  # past the ttl: asked again
    assert later.id == world.trip.id


def test_active_trips_a_device_without_a_trip_of_its_own_reports_for_its_escorts(app, world, session):
    """The same choice as trips.active_trip_for_device: by device, else by escort; the latest started wins."""
    spare, _ = create_device(session, "eve-spare", world.users["escort"], now=utcnow())
    session.commit()
    cache = ingest.ActiveTrips(ttl_s=0.0)
    eve = DeviceRef(world.device.id, world.users["escort"].id)
    other = DeviceRef(spare.id, world.users["escort"].id)
    found = cache.get_many(session, [eve, other], now=utcnow())
    assert found[eve.id].id == world.trip.id and found[other.id].id == world.trip.id
    later = world.make_trip(status="en_route_pickup", device=spare.id, now=utcnow() + timedelta(minutes=1))
    found = cache.get_many(session, [eve, other], now=utcnow())
    assert found[other.id].id == later.id  # its own trip now
    assert found[eve.id].id == later.id  # the escort's latest started trip wins over the device's own older one


def test_each_committed_group_is_counted_in_metrics(app, world, session):
    from app import metrics

    group = ingest.group_commit(_engine(app), window_s=0.0)
    eve = DeviceRef(world.device.id, world.users["escort"].id)
    before = metrics.ingest_groups._value.get()
    _submit_together(app, group, [(eve, [fix_payload(1)])])
    assert metrics.ingest_groups._value.get() - before == group.groups == 1
