"""Devices, stored fixes and the per-trip detection state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime


class Device(SQLModel, table=True):
    """A tracker, phone or tablet that sends fixes; its token is stored as a SHA-256."""

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(unique=True, max_length=80)
    token_hash: str | None = Field(default=None, unique=True, max_length=64)
    escort_user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Sequence numbers may be epoch milliseconds (browsers, OsmAnd, OwnTracks): 64-bit.
    last_seq: int | None = Field(default=None, sa_type=BigInteger)
    last_lat: float | None = None
    last_lon: float | None = None
    last_fix_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A revoked device's token is refused on every entry (``escort devices revoke LABEL``).
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class FixRow(SQLModel, table=True):
    """One stored position report (the table ``fix``; ``tracking.fix.Fix`` is the value a report becomes), unique per device, sequence number and time.

    Not unique per device and seq alone: a device whose counter starts again (storage
    cleared, app reinstalled) sends new fixes under old numbers; only the same seq at the
    same time is a repeat.
    """

    __table_args__ = (
        UniqueConstraint("device_id", "seq", "ts", name="uq_fix_device_seq_ts"),
        Index("ix_fix_trip_ts", "trip_id", "ts"),
        Index("ix_fix_received_at", "received_at"),
    )

    __tablename__ = "fix"

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id")
    seq: int = Field(sa_type=BigInteger)
    trip_id: int | None = Field(default=None, foreign_key="trip.id")
    ts: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
    lat: float
    lon: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    altitude_m: float | None = None
    battery_pct: float | None = None
    # Marked by the phone as a mock location (Android's flag, Traccar Client's mock=true).
    mock: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


# The name the stored row had before it became FixRow: kept while other branches still import it.
Fix = FixRow


class TripTrackState(SQLModel, table=True):
    """The detection state of one trip, so any process can carry on where another stopped."""

    __tablename__ = "trip_track_state"

    trip_id: int = Field(primary_key=True, foreign_key="trip.id")
    state: dict = Field(default_factory=dict, sa_type=JSON)
    # When the trip's latest fix was received (every fresh fix moves it, whatever detection
    # made of it): the sweep's signal-lost clock.
    last_fix_received_at: datetime = Field(sa_type=UTCDateTime)
    # The time of the last fix detection used (None before the first): the check-in clock's
    # evidence of driving. The state holds it too, for the detectors; this is the one others read.
    last_detected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The pickup leg while the escort drives to the pickup (``tracking.eta.PickupLeg.to_dict``):
    # routed by the sweep, never by ingest; ingest reads it with the state for the pushed ETA.
    pickup_leg: dict | None = Field(default=None, sa_type=JSON)
