"""Request bodies of the line's endpoints (messages, reading them, doses), validated with pydantic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.db import MAX_ROW_ID
from dispatch.line import MAX_REASON_CHARS, MAX_TEXT_CHARS


class MessageIn(BaseModel):
    """``POST /api/v1/trips/<id>/messages``."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class MessagesRead(BaseModel):
    """``POST /api/v1/trips/<id>/messages/read``: the newest message of the other side displayed."""

    model_config = ConfigDict(extra="forbid")

    up_to: int = Field(gt=0, le=MAX_ROW_ID)


class DoseIn(BaseModel):
    """``POST /api/v1/trips/<id>/medications``."""

    model_config = ConfigDict(extra="forbid")

    medication: str = Field(min_length=1, max_length=200)
    outcome: Literal["given", "skipped"]
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS)
    due_at: str | None = Field(default=None, max_length=40)
