"""What the dispatcher's trip page shows of one trip: track so far, alerts, timeline, next statuses.

Only what a dispatcher may know (``alerts.known_to``), and of the patient only the name and the
sheet link (the timeline names no medication: ``show_patient=False``).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from app.models import User
from dispatch import alerts, present, trips, triplog
from dispatch.models import Trip

# The track drawn on the page: the last points of a long drive are enough to see where it went.
TRACK_POINTS_MAX = 5000


def page_data(session: Session, trip: Trip, user: User, *, can_act: bool, now: datetime) -> dict:
    """Return the trip page's data: trip, track so far ([lat, lon] pairs), alerts, timeline, next statuses."""
    track = triplog.load_track(session, trip.id)
    events = triplog.known_events(session, trip.id, user)
    trip_alerts = triplog.known_alerts(session, trip.id, user)
    ids = {a.acknowledged_by_id for a in trip_alerts if a.acknowledged_by_id}
    names = dict(session.exec(select(User.id, User.username).where(User.id.in_(ids))).all()) if ids else {}
    return {
        "trip": present.trip_public(session, trip, now=now),
        "track": [[f.lat, f.lon] for f in track[-TRACK_POINTS_MAX:]],
        "alerts": [alerts.public(a, names) for a in trip_alerts],
        "timeline": triplog.timeline(session, trip, user=user, show_patient=False, track=track, events=events),
        "allowed_next": trips.allowed_next(trip, user.role) if can_act else [],
        # The client follows status changes sent live: what may come after each status.
        "transitions": {status: list(nexts) for status, nexts in trips.TRANSITIONS.items()} if can_act else {},
        "status_words": {status: status.replace("_", " ") for status in trips.STATUSES},
    }
