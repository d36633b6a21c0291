"""Request bodies of escorts' place reports and their review, validated with pydantic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.db import MAX_ROW_ID


class PlaceReportIn(BaseModel):
    """``POST /api/v1/flagged-places/reports``: the escort's trip, where (here = the last fix), what and why."""

    model_config = ConfigDict(extra="forbid")

    trip_id: int = Field(ge=1, le=MAX_ROW_ID)
    where: Literal["here", "pickup", "dropoff"]
    category: Literal["aggressive_resident", "unsafe_parking", "no_lift", "dog", "access", "other"]
    reason: str = Field(min_length=1, max_length=1000)


class PlaceDecline(BaseModel):
    """``POST /api/v1/flagged-places/<id>/decline``: why the report is not published."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)
