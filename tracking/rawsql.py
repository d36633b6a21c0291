"""The ingest hot path's statements as plain driver SQL (SQLite and PostgreSQL).

A group of a hundred fixes runs a handful of statements; through SQLAlchemy Core most of
their cost is statement handling and per-value bind processing, not the database's work.
Here each statement is a fixed string run on the session's own driver connection (inside
the session's transaction), with values converted once, by hand, exactly as the ORM's
column types store them:

- SQLite: a UTC timestamp as naive ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which is what
  ``app.db.UTCDateTime`` and SQLAlchemy's SQLite DATETIME write (text order is time order);
- PostgreSQL (psycopg): the aware datetime itself, for ``timestamptz``; JSON cast from text.

``tests/tracking/test_rawsql.py`` checks that rows written here read back through the ORM
equal to rows written through it, on whichever backend the suite runs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, Sequence

from sqlmodel import Session

UTC = timezone.utc
# Rows per INSERT: 12 values each, well under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
INSERT_CHUNK = 1000

FIX_COLUMNS = ("device_id", "seq", "trip_id", "ts", "received_at", "lat", "lon", "accuracy_m", "speed_mps",
               "heading_deg", "altitude_m", "battery_pct")


class RawSQL:
    """The driver cursor of a session's connection, and the SQL dialect details it needs."""

    def __init__(self, session: Session) -> None:
        conn = session.connection()
        self.postgres = conn.dialect.name == "postgresql"
        self.mark = "%s" if self.postgres else "?"
        self.cursor = conn.connection.cursor()

    def when(self, value: datetime | None) -> Any:
        """Return a timestamp as the driver should bind it for a UTC column."""
        if value is None:
            return None
        if value.tzinfo is not UTC:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
        if self.postgres:
            return value
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")

    def marks(self, count: int) -> str:
        """Return ``count`` comma-separated placeholders."""
        return ", ".join([self.mark] * count)

    def insert_fixes(self, rows: Sequence[tuple]) -> set[tuple[int, int]]:
        """Insert fix rows (values in ``FIX_COLUMNS`` order, timestamps already bound) once per
        (device, seq); return the (device id, seq) pairs that were new."""
        new: set[tuple[int, int]] = set()
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start:start + INSERT_CHUNK]
            self.cursor.execute(_insert_fixes_sql(self.mark, len(chunk)), [v for row in chunk for v in row])
            new.update((row[0], row[1]) for row in self.cursor.fetchall())
        return new

    def touch_devices(self, moved: list[tuple], seen: list[tuple]) -> None:
        """Record devices' last contact; where a fix is newer than the stored one, its position too.

        ``moved`` holds (seen at, fix ts, lat, lon, seq, device id); ``seen`` (seen at, device id).
        The CASEs read the row as it was, so a late backlog never moves a device back.
        """
        m = self.mark
        if moved:
            newer = f"(last_fix_at IS NULL OR last_fix_at <= {m})"
            self.cursor.executemany(
                f"UPDATE device SET last_seen_at = {m}, "
                f"last_lat = CASE WHEN {newer} THEN {m} ELSE last_lat END, "
                f"last_lon = CASE WHEN {newer} THEN {m} ELSE last_lon END, "
                f"last_seq = CASE WHEN {newer} THEN {m} ELSE last_seq END, "
                f"last_fix_at = CASE WHEN {newer} THEN {m} ELSE last_fix_at END "
                f"WHERE id = {m}",
                [(seen_at, ts, lat, ts, lon, ts, seq, ts, ts, device_id)
                 for seen_at, ts, lat, lon, seq, device_id in moved])
        if seen:
            self.cursor.executemany(f"UPDATE device SET last_seen_at = {m} WHERE id = {m}", seen)

    def open_keys(self, keys: list[str]) -> set[str]:
        """Return which of these alert open keys are open."""
        if not keys:
            return set()
        self.cursor.execute(f"SELECT open_key FROM alert WHERE open_key IN ({self.marks(len(keys))})", keys)
        return {row[0] for row in self.cursor.fetchall()}

    def track_states(self, trip_ids: list[int]) -> list[tuple[int, str]]:
        """Return (trip id, state JSON text) of these trips, locking the rows on PostgreSQL."""
        if not trip_ids:
            return []
        state = "state::text" if self.postgres else "state"
        lock = " FOR UPDATE" if self.postgres else ""
        self.cursor.execute(f"SELECT trip_id, {state} FROM trip_track_state WHERE trip_id IN "
                            f"({self.marks(len(trip_ids))}) ORDER BY trip_id{lock}", trip_ids)
        return [(row[0], row[1]) for row in self.cursor.fetchall()]

    def save_track_states(self, old: Iterable[tuple[str, Any, int]], new: Iterable[tuple[int, str, Any]]) -> None:
        """Write detection states as JSON text: ``old`` rows (text, updated at, trip id) are updated,
        ``new`` rows (trip id, text, updated at) inserted."""
        m = self.mark
        value = f"{m}::json" if self.postgres else m
        old, new = list(old), list(new)
        if old:
            self.cursor.executemany(f"UPDATE trip_track_state SET state = {value}, updated_at = {m} "
                                    f"WHERE trip_id = {m}", old)
        if new:
            self.cursor.executemany(f"INSERT INTO trip_track_state (trip_id, state, updated_at) "
                                    f"VALUES ({m}, {value}, {m})", new)


@lru_cache(maxsize=INSERT_CHUNK)
def _insert_fixes_sql(mark: str, rows: int) -> str:
    """Return the INSERT … ON CONFLICT DO NOTHING RETURNING for ``rows`` rows."""
    one = "(" + ", ".join([mark] * len(FIX_COLUMNS)) + ")"
    return (f"INSERT INTO fix ({', '.join(FIX_COLUMNS)}) VALUES {', '.join([one] * rows)} "
            f"ON CONFLICT (device_id, seq) DO NOTHING RETURNING device_id, seq")
