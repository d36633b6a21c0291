"""Retention: delete raw fixes past their time, in batches, keeping trips and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import delete, func, select
from sqlmodel import Session

from tracking.models import Fix

BATCH = 5000


def purge_fixes(session: Session, *, older_than_days: int, now: datetime,
                progress: Callable[[str], None] | None = None) -> int:
    """Delete fixes received more than ``older_than_days`` ago; return how many."""
    cutoff = now - timedelta(days=older_than_days)
    total = session.execute(select(func.count()).select_from(Fix).where(Fix.received_at < cutoff)).scalar_one()
    deleted = 0
    while deleted < total:
        ids = session.execute(select(Fix.id).where(Fix.received_at < cutoff).limit(BATCH)).scalars().all()
        if not ids:
            break
        session.execute(delete(Fix).where(Fix.id.in_(ids)))
        session.commit()
        deleted += len(ids)
        if progress:
            progress(f"purge: {deleted}/{total} fixes deleted")
    return deleted
