"""Trips as the fix pipeline sees them (``tracking.pipeline.Trips``): which trip, its plan, where events go."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from sqlmodel import Session, select

from app.times import iso_z
from dispatch import alerts, arrival, flags, line, trips
from dispatch.models import Alert, Trip, TripEvent
from dispatch.plans import plan_for, segment_durations  # noqa: F401  (their home before dispatch.plans)
from dispatch.zones import ZoneCache
from tracking import detectors
from tracking.fix import Fix
from tracking.rawsql import RawSQL


class ActiveTrips:
    """Which trip each device is reporting for, remembered while no trip changes.

    Looking the trip up for every fix costs more than storing the fix. Every change to a
    trip moves its ``updated_at``, so one indexed ``max(updated_at)`` says whether any trip
    changed since an entry was made: while it has not, entries stand (up to ``max_age_s``);
    once it has, they are looked up again (and a trip is loaded again only if its own
    ``updated_at`` moved). A status change made in this process also forgets them at once.
    ``max_age_s`` bounds the one case the watermark misses: another process committing a
    change stamped earlier than the newest stamp already read (commit order is not clock
    order). ``ttl_s`` is the shortest an entry stands even when the watermark moves: under a
    stream of changes, a fix in that window still belongs to the trip's time window.
    """

    def __init__(self, ttl_s: float = 1.0, max_age_s: float = 10.0) -> None:
        self.ttl_s, self.max_age_s = ttl_s, max(ttl_s, max_age_s)
        # device id -> (made at, trip, watermark, the trip's updated_at as the driver gave it)
        self._entries: dict[int, tuple[datetime, Any, Any, Any]] = {}

    def _fresh(self, hit, now: datetime, mark) -> bool:
        """Say whether an entry still stands at ``now`` with the trips' watermark at ``mark``."""
        if hit is None:
            return False
        age_s = (now - hit[0]).total_seconds()
        return age_s < self.ttl_s or (mark is not None and hit[2] == mark and age_s < self.max_age_s)

    @staticmethod
    def _watermark(session: Session):
        """Return the newest ``updated_at`` of any trip as the driver gives it (compared for equality only)."""
        with RawSQL(session) as raw:
            return raw.newest(Trip.__table__.name, Trip.__table__.c.updated_at.name)

    def get(self, session: Session, device: Any, *, now: datetime):
        """Return the device's trip under way (detached, read-only), or None."""
        return self.get_many(session, [device], now=now)[device.id]

    def get_many(self, session: Session, devices: Iterable, *, now: datetime) -> dict[int, Any]:
        """Return {device id: its trip under way or None}, one query for all not remembered."""
        out: dict[int, Any] = {}
        missing: dict[int, Any] = {}
        mark, marked = None, self.ttl_s <= 0
        for device in devices:
            hit = self._entries.get(device.id)
            if hit is not None and (now - hit[0]).total_seconds() < self.ttl_s:
                out[device.id] = hit[1]  # younger than ttl_s: stands whatever changed (no query)
                continue
            if not marked:  # read once, and before any entry is made
                mark, marked = self._watermark(session), True
            if self._fresh(hit, now, mark):
                out[device.id] = hit[1]
            else:
                missing[device.id] = device
        if not missing:
            return out
        heads = self._heads(session, missing.values())
        # The same choice as trips.active_trip_for_device: the latest started wins (heads come
        # latest started first), by the device's own id, else by its escort.
        by_device: dict[int, tuple] = {}
        by_escort: dict[int, tuple] = {}
        for head in heads:
            if head[2] is not None:
                by_device.setdefault(head[2], head)
            if head[3] is not None:
                by_escort.setdefault(head[3], head)
        chosen: dict[int, tuple | None] = {}
        for device in missing.values():
            mine = by_device.get(device.id)
            theirs = by_escort.get(device.escort_user_id) if device.escort_user_id is not None else None
            if mine is not None and theirs is not None and mine is not theirs:
                chosen[device.id] = mine if heads.index(mine) < heads.index(theirs) else theirs
            else:
                chosen[device.id] = mine or theirs
        known = {}
        for device_id, head in chosen.items():
            old = self._entries.get(device_id)
            if head is not None and old is not None and old[1] is not None and old[1].id == head[0] \
                    and old[3] == head[1]:
                known[head[0]] = old[1]  # unchanged since it was loaded: every change moves updated_at
        wanted = {h[0] for h in chosen.values() if h is not None} - set(known)
        if wanted:
            for trip in session.exec(select(Trip).where(Trip.id.in_(sorted(wanted)))).all():
                session.expunge(trip)
                known[trip.id] = trip
        for device_id, head in chosen.items():
            trip = known.get(head[0]) if head is not None else None
            self._entries[device_id] = (now, trip, mark, head[1] if head is not None else None)
            out[device_id] = trip
        return out

    @staticmethod
    def _heads(session: Session, devices: Iterable) -> list[tuple]:
        """Return (id, updated_at as the driver gives it, device id, escort id) of the trips under way
        of these devices or their escorts, latest started first: one plain query, names from the model."""
        devices = list(devices)
        escorts = sorted({d.escort_user_id for d in devices if d.escort_user_id is not None})
        c = Trip.__table__.c
        any_of = [(c.device_id.name, [d.id for d in devices])]
        if escorts:
            any_of.append((c.escort_user_id.name, escorts))
        with RawSQL(session) as raw:
            return raw.select_in(Trip.__table__.name,
                                 [c.id.name, c.updated_at.name, c.device_id.name, c.escort_user_id.name],
                                 where=[(c.status.name, sorted(trips.ACTIVE))], any_of=any_of,
                                 order_desc=c.started_at.name)

    def forget(self) -> None:
        """Drop every entry (a trip changed status here)."""
        self._entries.clear()


def flag_notice(trip: Trip, event: detectors.Event) -> dict:
    """Return the tablet notice of a flagged place entered: its category and reason, never who reported it."""
    title = flags.CATEGORY_LABELS.get(event.detail.get("category"), "Warning")
    reason = event.detail.get("reason") or ""
    return {"escort_user_id": trip.escort_user_id, "event": "flagged_place",
            "payload": {"trip_id": trip.id, "kind": "flagged_place", "ts": iso_z(event.ts),
                        "category": event.detail.get("category"), "title": title, "reason": reason,
                        "text": f"Flagged place: {title} — {reason}"}}


class TripBook:
    """The ``tracking.pipeline.Trips`` of one ingest: trips, plans and alerts from dispatch.

    Made per call with the app's caches (or none: every lookup then reads the database).
    """

    def __init__(self, active: ActiveTrips | None = None, zones: ZoneCache | None = None) -> None:
        self.active = active or ActiveTrips(ttl_s=0)
        self.zones = zones or ZoneCache(ttl_s=0)
        self._zones_now: tuple | None = None  # (version, hazards), read once per call

    def under_way(self, session: Session, devices: Sequence[Any], *, now: datetime) -> dict[int, Any]:
        """Return {device id: the trip it reports for now, or None}."""
        return self.active.get_many(session, devices, now=now)

    def backlog(self, session: Session, late: Sequence[tuple[Any, Sequence[Fix]]]) -> Callable[[Any, datetime], Any]:
        """Return a lookup (device, fix time) -> ended trip id, from one query for all late fixes."""
        times = [f.ts for _, fixes in late for f in fixes]
        candidates = trips.backlog_candidates(session, [device for device, _ in late], min(times), max(times))
        return lambda device, ts: trips.backlog_trip(candidates, device, ts)

    def off_duty(self, session: Session, device_ids: Sequence[int]) -> set[int]:
        """Return the devices of escorts off duty with no trip: their fixes outside a trip are refused."""
        return line.hidden_devices(session, list(device_ids))

    def signal_back(self, session: Session, live: Sequence[tuple[Any, datetime]]) -> dict[int, list]:
        """Clear these trips' open ``signal_lost`` alerts (one query to find them); return {trip id: [alert]}."""
        keys = {alerts.open_key(trip.id, trip.device_id, "signal_lost"): (trip, now) for trip, now in reversed(live)}
        with RawSQL(session) as raw:
            open_now = raw.existing(Alert.__table__.name, Alert.__table__.c.open_key.name, list(keys))
        out: dict[int, list] = {}
        for key in open_now:
            trip, now = keys[key]
            alert = alerts.auto_resolve(session, trip_id=trip.id, device_id=trip.device_id, kind="signal_lost",
                                        detail={}, at=now, now=now)
            if alert is not None:
                out.setdefault(trip.id, []).append(alert)
        return out

    def plan(self, session: Session, trip: Trip, *, now: datetime) -> tuple[detectors.TripPlan,
                                                                            detectors.DetectionSettings]:
        """Return the trip's prepared plan and settings, built once per version of the trip and zones.

        Every change to a trip (status, route, geofences, settings) moves its ``updated_at``,
        so the version key is cheap: no hashing of a long route on every fix.
        """
        if self._zones_now is None:
            self._zones_now = self.zones.get(session, now)
        return plan_for(trip, self._zones_now)

    def estimate(self, trip: Trip, state: detectors.DetectionState, plan: detectors.TripPlan,
                 settings: detectors.DetectionSettings, fix: Fix, leg: str | None, *, now: datetime) -> dict | None:
        """Return the trip's live ETA after ``fix`` (``dispatch.arrival``'s public shape) from memory, or None."""
        found = arrival.from_memory(trip, state, arrival.prepared_leg(trip.id, leg), now=now, last_fix=fix,
                                    plan=(plan, settings))
        return arrival.public(found) if found is not None else None

    def apply(self, session: Session, trip: Trip, events: list, *, now: datetime, batch: bool) -> tuple[list, list]:
        """Raise and clear alerts in event order, record notices in the timeline; return (alerts, notices).

        Every alert is recorded the same way whether its fixes came live or in one backlog,
        so a replay raises the same alerts. What a backlog raised and cleared again is
        history, not news: it is marked ``from_backlog`` and not pushed to dispatchers'
        screens, so a device flushing its offline queue causes no storm of stale alerts.
        """
        touched: dict[int, tuple] = {}
        notices = []
        for event in events:
            if event.action == "notice" and event.kind == "flagged_place":
                notices.append(flag_notice(trip, event))  # the alert's own timeline entry records it
            elif event.action == "notice":
                session.add(TripEvent(trip_id=trip.id, at=event.ts, kind=event.kind, detail=event.detail))
                notices.append({"escort_user_id": trip.escort_user_id,
                                "payload": {"trip_id": trip.id, "kind": event.kind, "ts": iso_z(event.ts)}})
            elif event.action == "raise":
                alert, new = alerts.raise_alert(session, trip_id=trip.id, device_id=trip.device_id, kind=event.kind,
                                                detail=event.detail, at=event.ts, now=now)
                touched.setdefault(alert.id, (alert, new))
            elif event.action == "resolve":
                alert = alerts.auto_resolve(session, trip_id=trip.id, device_id=trip.device_id, kind=event.kind,
                                            detail=event.detail, at=event.ts, now=now)
                if alert is not None:
                    touched.setdefault(alert.id, (alert, False))
        raised = []
        for alert, new in touched.values():
            if batch and new and alert.resolved_at is not None:
                alert.detail = {**alert.detail, "from_backlog": True}
                session.add(alert)
                continue
            raised.append(alert)
        return raised, notices
