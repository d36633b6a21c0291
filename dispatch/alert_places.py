"""Say where alerts happened, in words: the sweep fills ``Alert.place`` by reverse geocoding, off the ingest path."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from dispatch import alerts
from dispatch.models import Alert
from places.cache import words_for
from places.geocoding import Geocoder, GeocoderUnavailable
from tracking.models import Fix

log = logging.getLogger(__name__)
LOOKBACK = timedelta(days=1)  # older alerts without a place are history: not worth a request each sweep
BATCH = 20  # alerts described per sweep; the geocoder is paced, and the sweep has timers to run
NO_POSITION = ""  # stored when the alert has no position at all: checked once, not every sweep


def position(session: Session, alert: Alert) -> tuple[float, float] | None:
    """Return where the alert happened: its own fix (panic, stop, deviation), else the last fix before it."""
    detail = alerts.opened(alert.detail)
    if isinstance(detail.get("lat"), (int, float)) and isinstance(detail.get("lon"), (int, float)):
        return float(detail["lat"]), float(detail["lon"])
    if alert.trip_id is not None:
        where = Fix.trip_id == alert.trip_id
    elif alert.device_id is not None:
        where = Fix.device_id == alert.device_id
    else:
        return None
    row = session.exec(select(Fix.lat, Fix.lon).where(where, Fix.ts <= alert.raised_at)
                       .order_by(Fix.ts.desc(), Fix.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def fill_places(session: Session, geocoder: Geocoder | None, *, now: datetime, batch: int = BATCH) -> list[Alert]:
    """Describe recent alerts that have no place yet; return those changed (committed).

    Once the geocoder fails to answer, the rest of this round uses only the cache (the next
    sweep asks again); a position the geocoder knows nothing about is said as its coordinates.
    """
    if geocoder is None:
        return []
    rows = session.exec(select(Alert).where(Alert.place.is_(None), Alert.raised_at >= now - LOOKBACK)
                        .order_by(Alert.raised_at.desc()).limit(batch)).all()
    changed, down = [], False
    for alert in rows:
        where = position(session, alert)
        try:
            words = NO_POSITION if where is None else words_for(session, geocoder, *where, now=now, ask=not down)
        except GeocoderUnavailable as exc:
            log.warning("alert places wait for the geocoder: %s", exc)
            down = True
            continue
        if words is None:
            continue
        # Claimed, not overwritten: another process's sweep may have described it meanwhile, and
        # only the one that wrote the words tells the screens (once, not once per process).
        claimed = session.execute(update(Alert).where(Alert.id == alert.id, Alert.place.is_(None))
                                  .values(place=words).execution_options(synchronize_session=False))
        # Committed at once: the next alert may wait a second or more for the geocoder, and the
        # row lock (on SQLite, the database's) must not make an acknowledge or a fix wait with it.
        session.commit()
        if claimed.rowcount == 1:
            changed.append(alert)
    session.commit()
    # Read again after the commit: the screens get the alert as it is now (it may have been
    # acknowledged or resolved while the geocoder answered), never its older state.
    for alert in changed:
        session.refresh(alert)
    return changed
