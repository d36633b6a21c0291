"""Trips with their geofences and planned route, alerts, and the trip's event log."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime


class Trip(SQLModel, table=True):
    """One escorted journey: pickup and drop-off geofences, a planned route, a status."""

    __table_args__ = (
        Index("ix_trip_status", "status"),
        # The trip log's keyset paging, alone and under each filter (migration 0007).
        Index("ix_trip_scheduled_id", "scheduled_pickup_at", "id"),
        Index("ix_trip_patient_scheduled", "patient_id", "scheduled_pickup_at"),
        Index("ix_trip_escort_scheduled", "escort_user_id", "scheduled_pickup_at"),
        Index("ix_trip_status_scheduled", "status", "scheduled_pickup_at"),
        # Ingest's "has any trip changed?" watermark, max(updated_at) (migration 0010).
        Index("ix_trip_updated_at", "updated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    escort_user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    device_id: int | None = Field(default=None, foreign_key="device.id", index=True)
    status: str = Field(max_length=20)
    pickup_lat: float
    pickup_lon: float
    pickup_radius_m: float
    dropoff_lat: float
    dropoff_lon: float
    dropoff_radius_m: float
    # The places in words, as the dispatcher found them by address (what the escort's tablet
    # shows as the next stop); None when they were clicked on a map or typed as coordinates.
    pickup_address: str | None = Field(default=None, max_length=300)
    dropoff_address: str | None = Field(default=None, max_length=300)
    # Planned route as [[lat, lon], ...]; empty means the straight line pickup to drop-off.
    route: list = Field(default_factory=list, sa_type=JSON)
    # Where the planned route came from: "router:<engine>" (computed), "upload" (GPX/GeoJSON), None (none).
    route_source: str | None = Field(default=None, max_length=40)
    # The computed route's length and time, and each segment's time
    # (len(route) - 1 of them) when the router gives them, which times the live ETA; None when
    # nobody timed the route (an upload): the expected speed does.
    route_distance_m: float | None = None
    route_duration_s: float | None = None
    route_durations_s: list | None = Field(default=None, sa_type=JSON)
    # Places a stop is expected (a pharmacy, a carer's house): [{"lat", "lon", "radius_m"}, ...]
    allowed_stops: list = Field(default_factory=list, sa_type=JSON)
    settings: dict = Field(default_factory=dict, sa_type=JSON)
    scheduled_pickup_at: datetime = Field(sa_type=UTCDateTime, index=True)
    appointment_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The check-in due time the tablet was last reminded of: one reminder per due time, whichever process sweeps.
    checkin_reminded_for: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class TripEvent(SQLModel, table=True):
    """A line of a trip's timeline: a status change, a note, a detector notice."""

    __tablename__ = "trip_event"
    __table_args__ = (Index("ix_trip_event_trip_at", "trip_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    trip_id: int = Field(foreign_key="trip.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=40)
    user_id: int | None = Field(default=None, foreign_key="user.id")
    detail: dict = Field(default_factory=dict, sa_type=JSON)


class TripMessage(SQLModel, table=True):
    """A message on a trip between its escort and dispatch; ``read_at`` is when the other side displayed it."""

    __tablename__ = "trip_message"
    __table_args__ = (Index("ix_trip_message_trip_id_id", "trip_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    trip_id: int = Field(foreign_key="trip.id")
    # "escort" or "dispatch": the side that wrote it.
    side: str = Field(max_length=10)
    user_id: int | None = Field(default=None, foreign_key="user.id")
    text: str = Field(max_length=500)
    at: datetime = Field(sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    """An alert on a trip; ``open_key`` is unique while open, so one per trip and kind."""

    __table_args__ = (Index("ix_alert_trip_kind", "trip_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    trip_id: int | None = Field(default=None, foreign_key="trip.id")
    device_id: int | None = Field(default=None, foreign_key="device.id")
    kind: str = Field(max_length=30)
    # "trip:<id>:<kind>" while unresolved, NULL once resolved (NULLs never collide).
    open_key: str | None = Field(default=None, unique=True, max_length=80)
    raised_at: datetime = Field(sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by_id: int | None = Field(default=None, foreign_key="user.id")
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by_id: int | None = Field(default=None, foreign_key="user.id")
    category: str | None = Field(default=None, max_length=20)
    note: str | None = None
    # How far up the escalation chain an unacknowledged alert has gone (0: not escalated).
    escalation_level: int = 0
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    detail: dict = Field(default_factory=dict, sa_type=JSON)
    # Where, in words (reverse geocoded by the sweep, off the ingest path); NULL until then.
    place: str | None = Field(default=None, max_length=300)


class HazardZone(SQLModel, table=True):
    """An area escorts should know about (a closed road, an unsafe estate): entering it raises an alert."""

    __tablename__ = "hazard_zone"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    reason: str | None = Field(default=None, max_length=500)
    # The outer ring as [[lat, lon], ...], first point not repeated.
    ring: list = Field(default_factory=list, sa_type=JSON)
    active: bool = True
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class FlaggedPlace(SQLModel, table=True):
    """A shared warning about an address or an area (an aggressive resident, unsafe parking, no lift).

    A circle (``lat``, ``lon``, ``radius_m``) or a polygon ``ring``; it expires, because a
    warning list that never forgets goes stale and then unread.
    """

    __tablename__ = "flagged_place"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=200)
    category: str = Field(max_length=40)
    reason: str = Field(max_length=1000)
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    ring: list = Field(default_factory=list, sa_type=JSON)
    active: bool = True
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class StandingOrder(SQLModel, table=True):
    """A repeating trip (dialysis Monday, Wednesday and Friday): its trips are created ahead, one per date."""

    __tablename__ = "standing_order"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    escort_user_id: int | None = Field(default=None, foreign_key="user.id")
    pickup_lat: float
    pickup_lon: float
    pickup_radius_m: float
    dropoff_lat: float
    dropoff_lon: float
    dropoff_radius_m: float
    route: list = Field(default_factory=list, sa_type=JSON)
    allowed_stops: list = Field(default_factory=list, sa_type=JSON)
    settings: dict = Field(default_factory=dict, sa_type=JSON)
    # Local wall-clock times "HH:MM" in ``tz`` (the office's zone when the order was made).
    pickup_time: str = Field(max_length=5)
    appointment_time: str | None = Field(default=None, max_length=5)
    tz: str = Field(max_length=64)
    days: list = Field(default_factory=list, sa_type=JSON)  # ["mon", "wed", "fri"]
    starts_on: date
    ends_on: date
    # Trips exist for every date up to here; the sweep tops up to the horizon.
    filled_until: date | None = None
    active: bool = True
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class StandingOrderDate(SQLModel, table=True):
    """One date of a standing order: the trip made for it, or skipped (the other dates untouched)."""

    __tablename__ = "standing_order_date"
    __table_args__ = (UniqueConstraint("order_id", "on_date", name="uq_standing_order_date"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="standing_order.id", index=True)
    on_date: date
    trip_id: int | None = Field(default=None, foreign_key="trip.id")
    skipped: bool = False


class LiveLink(SQLModel, table=True):
    """A time-limited, read-only live-location link for one alert, for responders outside the company.

    Only a SHA-256 of the token is stored; the link ends at ``expires_at``, when revoked, or when
    its alert is resolved (whichever comes first).
    """

    __tablename__ = "live_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    trip_id: int | None = Field(default=None, foreign_key="trip.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who made it on the trip page; NULL when an escalation step made it.
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
