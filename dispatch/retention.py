"""Retention: delete raw fixes past their time, in batches, keeping trips and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import delete, func, select
from sqlmodel import Session

from dispatch.models import Trip, TripEvent
from dispatch.triplog import load_track, trip_figures
from tracking.models import FixRow

BATCH = 5000


def summarise_trips(session: Session, cutoff: datetime, *, now: datetime,
                    progress: Callable[[str], None] | None = None) -> int:
    """Keep each trip's figures before its raw fixes go: a ``track_summary`` event in its timeline.

    A trip summarised once is not summarised again (its figures came from the whole track).
    """
    trip_ids = session.execute(select(FixRow.trip_id).where(FixRow.received_at < cutoff, FixRow.trip_id.is_not(None))
                               .distinct()).scalars().all()
    done = set(session.execute(select(TripEvent.trip_id).where(TripEvent.kind == "track_summary",
                                                               TripEvent.trip_id.in_(trip_ids))).scalars().all()
               ) if trip_ids else set()
    made = 0
    for n, trip_id in enumerate(sorted(set(trip_ids) - done), 1):
        trip = session.get(Trip, trip_id)
        track = load_track(session, trip_id)
        # The alert figures of the summary are never read back (they come from the alerts themselves).
        summary = trip_figures(session, trip, track, user=None).as_dict()
        session.add(TripEvent(trip_id=trip_id, at=now, kind="track_summary",
                              detail={**summary, "fixes": len(track)}))
        made += 1
        if n % 100 == 0:
            session.commit()
            if progress:
                progress(f"purge: {n} trip summaries kept")
    session.commit()
    return made


def purge_fixes(session: Session, *, older_than_days: int, now: datetime,
                progress: Callable[[str], None] | None = None) -> int:
    """Keep trip summaries, then delete fixes received more than ``older_than_days`` ago; return how many."""
    cutoff = now - timedelta(days=older_than_days)
    summaries = summarise_trips(session, cutoff, now=now, progress=progress)
    if progress and summaries:
        progress(f"purge: kept the figures of {summaries} trips")
    total = session.execute(select(func.count()).select_from(FixRow).where(FixRow.received_at < cutoff)).scalar_one()
    deleted = 0
    while deleted < total:
        ids = session.execute(select(FixRow.id).where(FixRow.received_at < cutoff).limit(BATCH)).scalars().all()
        if not ids:
            break
        session.execute(delete(FixRow).where(FixRow.id.in_(ids)))
        session.commit()
        deleted += len(ids)
        if progress:
            progress(f"purge: {deleted}/{total} fixes deleted")
    return deleted
