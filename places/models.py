"""What places keep in the database: words for positions already asked of the geocoder."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db import UTCDateTime


class PlaceCache(SQLModel, table=True):
    """The reverse geocoder's answer for a position rounded to 1e-4 degrees (about 10 m).

    Kept in the database, not in memory: every process and every restart asks the geocoder
    once per spot. ``label`` is None when the geocoder knew nothing there.
    """

    __tablename__ = "place_cache"

    lat_e4: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    lon_e4: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    label: str | None = Field(default=None, max_length=300)
    fetched_at: datetime = Field(sa_type=UTCDateTime)
