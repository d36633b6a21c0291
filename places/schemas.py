"""A position in a request body: ``lat`` and ``lon``, or an ``address`` to geocode."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Located(BaseModel):
    """A position as ``lat`` and ``lon``, or an ``address`` the geocoder turns into one (ambiguous: 400)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, min_length=1, max_length=300,
                                description="instead of lat and lon: geocoded, its one clear match is used")

    @model_validator(mode="after")
    def _one_way(self):
        """Take lat and lon together, or an address alone."""
        if self.address is not None and (self.lat is not None or self.lon is not None):
            raise ValueError("give lat and lon, or an address, not both")
        if self.address is None and (self.lat is None or self.lon is None):
            raise ValueError("give lat and lon, or an address")
        return self
