"""The hot path's plain SQL writes what the ORM would, on whichever backend the suite runs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from app.db import utcnow
from tracking import detectors
from tracking.devices import create_device
from tracking.models import Device, Fix, TripTrackState
from tracking.rawsql import INSERT_CHUNK, RawSQL


def _row(device_id: int, seq: int, ts: datetime, raw: RawSQL, *, trip_id=None, lat=51.5, lon=-0.12,
         mock=False) -> tuple:
    return (device_id, seq, trip_id, raw.when(ts), raw.when(ts + timedelta(seconds=1)), lat, lon, 8.0, 1.5,
            90.0, None, 77, mock)


def test_fixes_written_raw_read_back_through_the_orm_as_written(app, world, session):
    ts = datetime(2026, 11, 29, 9, 30, 15, 250000, tzinfo=timezone.utc)
    raw = RawSQL(session)
    new = raw.insert_fixes([_row(world.device.id, 1, ts, raw, trip_id=world.trip.id, mock=True),
                            _row(world.device.id, 2, ts + timedelta(seconds=1), raw)])
    session.commit()
    assert new == {(world.device.id, 1, raw.when(ts)): False, (world.device.id, 2, raw.when(ts + timedelta(seconds=1))): False}
    with Session(app.extensions["escort"].engine) as fresh:
        fix, plain = fresh.exec(select(Fix).where(Fix.device_id == world.device.id).order_by(Fix.seq)).all()
    assert (fix.mock, plain.mock) == (True, False)
    assert (fix.ts, fix.received_at) == (ts, ts + timedelta(seconds=1))
    assert fix.ts.tzinfo is not None and fix.trip_id == world.trip.id
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.speed_mps, fix.heading_deg, fix.altitude_m, fix.battery_pct) == \
        (51.5, -0.12, 8.0, 1.5, 90.0, None, 77)


def test_raw_and_orm_timestamps_compare_in_sql_by_time(app, world, session):
    """On SQLite timestamps are text: both writers must use the one format, or ranges break."""
    base = datetime(2026, 11, 29, 9, 0, 0, tzinfo=timezone.utc)
    session.add(Fix(device_id=world.device.id, seq=1, ts=base + timedelta(seconds=10), received_at=base,
                    lat=51.5, lon=-0.12))
    session.commit()
    raw = RawSQL(session)
    raw.insert_fixes([_row(world.device.id, 2, base + timedelta(seconds=5), raw),
                      _row(world.device.id, 3, base + timedelta(seconds=20), raw)])
    session.commit()
    in_range = session.exec(select(Fix.seq).where(Fix.ts >= base + timedelta(seconds=5),
                                                  Fix.ts < base + timedelta(seconds=20)).order_by(Fix.ts)).all()
    assert in_range == [2, 1]
    # a timestamp in another zone is stored as the same instant
    other = base.astimezone(timezone(timedelta(hours=5)))
    raw = RawSQL(session)
    raw.insert_fixes([_row(world.device.id, 4, other, raw)])
    session.commit()
    assert session.exec(select(Fix.ts).where(Fix.seq == 4)).one() == base


def test_naive_timestamps_are_refused(session):
    with pytest.raises(ValueError, match="naive"):
        RawSQL(session).when(datetime(2026, 11, 29, 9, 0))


def test_repeats_are_not_new_and_are_stored_once(world, session):
    ts = utcnow()
    raw = RawSQL(session)
    rows = [_row(world.device.id, seq, ts + timedelta(seconds=seq), raw) for seq in range(1, INSERT_CHUNK + 6)]
    assert len(raw.insert_fixes(rows)) == INSERT_CHUNK + 5  # more than one statement's worth
    assert raw.insert_fixes(rows[:3] + [_row(world.device.id, 9999, ts, raw)]) == {(world.device.id, 9999, raw.when(ts)): False}
    session.commit()
    assert len(session.exec(select(Fix.id).where(Fix.device_id == world.device.id)).all()) == INSERT_CHUNK + 6


def test_a_seq_again_at_another_time_is_new_and_marked_as_a_reuse(world, session):
    """(device, seq, ts) is a fix's identity; a new fix whose seq is stored at another time is marked."""
    t0 = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
    raw = RawSQL(session)
    first = [_row(world.device.id, seq, t0 + timedelta(seconds=seq), raw) for seq in range(1, 6)]
    assert set(raw.insert_fixes(first).values()) == {False}
    at = {seq: t0 + timedelta(seconds=offset) for seq, offset in ((3, 7), (5, 4), (6, 8), (2, 9))}
    again = [_row(world.device.id, 3, at[3], raw),   # counter back, clock on: a reuse
             _row(world.device.id, 5, at[5], raw),   # seq 5 at an earlier time: a reuse too
             _row(world.device.id, 6, at[6], raw),   # a seq never sent: not a reuse
             first[1],                               # seq 2 at its own time again: a repeat, not new
             _row(world.device.id, 2, at[2], raw)]   # seq 2 at a new time: a reuse
    new = raw.insert_fixes(again)
    assert new == {(world.device.id, 3, raw.when(at[3])): True, (world.device.id, 5, raw.when(at[5])): True,
                   (world.device.id, 6, raw.when(at[6])): False, (world.device.id, 2, raw.when(at[2])): True}
    late = raw.insert_fixes([_row(world.device.id, 0, t0 - timedelta(seconds=30), raw)])
    assert list(late.values()) == [False]  # a late fix with a seq of its own is no reuse
    session.commit()
    assert len(session.exec(select(Fix.id).where(Fix.device_id == world.device.id)).all()) == 10


def test_touch_never_moves_a_device_back_to_an_older_fix(world, session):
    t0 = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
    raw = RawSQL(session)
    raw.touch_devices([(raw.when(t0), raw.when(t0 + timedelta(seconds=30)), 51.6, -0.1, 30, world.device.id)], [])
    raw.touch_devices([(raw.when(t0 + timedelta(seconds=60)), raw.when(t0), 51.4, -0.2, 1, world.device.id)], [])
    raw.touch_devices([], [(raw.when(t0 + timedelta(seconds=90)), world.device.id)])
    session.commit()
    session.expire_all()
    device = session.get(Device, world.device.id)
    assert (device.last_lat, device.last_lon, device.last_seq) == (51.6, -0.1, 30)
    assert device.last_fix_at == t0 + timedelta(seconds=30)
    assert device.last_seen_at == t0 + timedelta(seconds=90)


def test_one_call_with_a_device_twice_leaves_it_as_row_by_row_updates_would(world, session):
    """A group can hold two messages of one device (a fix and a backlog in flight at once)."""
    t0 = datetime(2026, 11, 29, 9, 0, tzinfo=timezone.utc)
    other, _ = create_device(session, "other", None, now=t0)
    session.commit()
    raw = RawSQL(session)
    s = raw.when
    raw.touch_devices(
        [(s(t0 + timedelta(seconds=60)), s(t0 + timedelta(seconds=30)), 51.6, -0.1, 30, world.device.id),
         (s(t0 + timedelta(seconds=90)), s(t0 + timedelta(seconds=10)), 51.4, -0.2, 10, world.device.id),
         (s(t0 + timedelta(seconds=95)), s(t0 + timedelta(seconds=30)), 51.7, -0.3, 31, world.device.id)],
        [(s(t0 + timedelta(seconds=99)), world.device.id), (s(t0 + timedelta(seconds=5)), other.id)])
    session.commit()
    session.expire_all()
    device = session.get(Device, world.device.id)
    # the newest fix wins, of two at the same time the later one; the latest contact stands
    assert (device.last_lat, device.last_lon, device.last_seq) == (51.7, -0.3, 31)
    assert device.last_fix_at == t0 + timedelta(seconds=30)
    assert device.last_seen_at == t0 + timedelta(seconds=99)
    untouched = session.get(Device, other.id)
    assert untouched.last_seen_at == t0 + timedelta(seconds=5) and untouched.last_fix_at is None


def test_track_states_round_trip_as_text_and_through_the_orm(world, session):
    state = detectors.DetectionState(last_lat=51.5, last_lon=-0.12, last_ts=utcnow(), in_hazards=("h1",))
    text = json.dumps(state.to_dict())
    at = utcnow()
    raw = RawSQL(session)
    assert raw.track_states([world.trip.id]) == []
    raw.save_track_states(old=[], new=[(world.trip.id, text, raw.when(at), raw.when(state.last_ts))])
    session.commit()
    raw = RawSQL(session)
    assert raw.track_states([world.trip.id]) == [(world.trip.id, text)]
    moved = json.dumps(detectors.DetectionState(off_fixes=2).to_dict())
    raw.save_track_states(old=[(moved, raw.when(at + timedelta(seconds=1)), None, world.trip.id)], new=[])
    session.commit()
    session.expire_all()
    row = session.get(TripTrackState, world.trip.id)
    assert detectors.DetectionState.from_dict(row.state).off_fixes == 2
    assert row.last_fix_received_at == at + timedelta(seconds=1) and row.last_detected_at is None


def test_several_states_updated_and_inserted_in_one_call(world, session):
    second = world.make_trip(status="assigned", device=None)
    at = utcnow()
    raw = RawSQL(session)
    texts = {trip_id: json.dumps(detectors.DetectionState(off_fixes=n).to_dict())
             for n, trip_id in enumerate((world.trip.id, second.id), start=1)}
    raw.save_track_states(old=[], new=[(world.trip.id, texts[world.trip.id], raw.when(at), None)])
    session.commit()
    raw = RawSQL(session)
    moved = json.dumps(detectors.DetectionState(off_fixes=7).to_dict())
    raw.save_track_states(old=[(moved, raw.when(at + timedelta(seconds=2)), raw.when(at), world.trip.id)],
                          new=[(second.id, texts[second.id], raw.when(at + timedelta(seconds=3)), None)])
    session.commit()
    assert dict(RawSQL(session).track_states([second.id, world.trip.id])) == {world.trip.id: moved,
                                                                              second.id: texts[second.id]}
    session.expire_all()
    assert session.get(TripTrackState, second.id).last_fix_received_at == at + timedelta(seconds=3)
    assert session.get(TripTrackState, world.trip.id).last_detected_at == at


def test_existing_finds_only_open_alerts_by_their_open_key(world, session):
    from dispatch import alerts

    now = utcnow()
    alerts.raise_alert(session, trip_id=world.trip.id, device_id=world.device.id, kind="signal_lost", detail={},
                       at=now, now=now)
    alerts.raise_alert(session, trip_id=world.trip.id, device_id=world.device.id, kind="stop", detail={},
                       at=now, now=now)
    alerts.auto_resolve(session, trip_id=world.trip.id, device_id=world.device.id, kind="stop", detail={},
                        at=now, now=now)
    session.commit()
    keys = [alerts.open_key(world.trip.id, world.device.id, kind) for kind in ("signal_lost", "stop", "panic")]
    with RawSQL(session) as raw:
        assert raw.existing("alert", "open_key", keys) == {keys[0]}
        assert raw.existing("alert", "open_key", []) == set()


def test_select_in_filters_by_all_and_any_and_orders_newest_first(world, session):
    from dispatch.models import Trip

    later = world.make_trip(status="en_route_pickup", device=None, now=utcnow() + timedelta(minutes=1))
    world.make_trip(status="planned", device=None)  # not under way: filtered out by status
    c = Trip.__table__.c
    with RawSQL(session) as raw:
        rows = raw.select_in("trip", [c.id.name, c.device_id.name],
                             where=[(c.status.name, ["on_board", "en_route_pickup"])],
                             any_of=[(c.device_id.name, [world.device.id]),
                                     (c.escort_user_id.name, [world.users["escort"].id])],
                             order_desc=c.started_at.name)
        assert [r[0] for r in rows] == [later.id, world.trip.id]  # the latest started first
        assert raw.select_in("trip", [c.id.name], where=[(c.device_id.name, [world.device.id])]) == \
            [(world.trip.id,)]
        assert raw.select_in("trip", [c.id.name], where=[(c.device_id.name, [])]) == []  # an empty list: none
        assert raw.select_in("trip", [c.id.name], where=[(c.status.name, ["on_board"])],
                             any_of=[(c.device_id.name, []), (c.escort_user_id.name, [])]) == []


def test_one_transaction_asks_the_session_for_its_connection_once(world, session):
    RawSQL(session).close()
    calls = []
    real = session.connection
    session.connection = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        with RawSQL(session) as raw:
            assert raw.existing("alert", "open_key", ["none"]) == set()
        assert calls == []  # the same transaction: the driver connection it already has
        session.commit()
        with RawSQL(session) as raw:  # a new transaction: asked again
            assert raw.existing("alert", "open_key", ["none"]) == set()
        assert calls == [1]
    finally:
        del session.connection
