"""The ingest hot path's statements as plain driver SQL (SQLite and PostgreSQL).

A group of a hundred fixes runs a handful of statements; through SQLAlchemy Core most of
their cost is statement handling and per-value bind processing, not the database's work.
Here each statement is a fixed string run on the session's own driver connection (inside
the session's transaction), with values converted once, by hand, exactly as the ORM's
column types store them:

- SQLite: a UTC timestamp as naive ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which is what
  ``app.db.UTCDateTime`` and SQLAlchemy's SQLite DATETIME write (text order is time order);
- PostgreSQL (psycopg): the aware datetime itself, for ``timestamptz``; JSON cast from text.
  Rows go as one array per column (``unnest``), so each statement is short and fixed
  whatever the group's size: psycopg parses placeholders in Python and runs ``executemany``
  row by row, which cost more than the database's own work.

``tests/tracking/test_rawsql.py`` checks that rows written here read back through the ORM
equal to rows written through it, on whichever backend the suite runs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, Sequence

from sqlmodel import Session

UTC = timezone.utc
# Rows per SQLite INSERT: 13 values each, well under SQLite's 32,766 parameters.
INSERT_CHUNK = 1000

FIX_COLUMNS = ("device_id", "seq", "trip_id", "ts", "received_at", "lat", "lon", "accuracy_m", "speed_mps",
               "heading_deg", "altitude_m", "battery_pct", "mock")


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

    def insert_fixes(self, rows: Sequence[tuple]) -> dict[tuple[int, int, Any], bool]:
        """Insert fix rows (values in ``FIX_COLUMNS`` order, timestamps already bound) once per
        (device, seq, ts); return {(device id, seq, ts as bound): whether it reuses a seq} of the new ones.

        A new fix reuses a seq when the device has a stored fix with that seq at another time
        (see ``_REUSED``), read in the same statement.
        """
        new: dict[tuple[int, int, Any], bool] = {}
        if self.postgres:
            if rows:
                self.cursor.execute(_PG_INSERT_FIXES, [list(column) for column in zip(*rows)])
                new.update(((row[0], row[1], row[2]), bool(row[3])) for row in self.cursor.fetchall())
            return new
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start:start + INSERT_CHUNK]
            self.cursor.execute(_insert_fixes_sql(self.mark, len(chunk)), [v for row in chunk for v in row])
            new.update(((row[0], row[1], row[2]), bool(row[3])) for row in self.cursor.fetchall())
        return new

    def touch_devices(self, moved: list[tuple], seen: list[tuple]) -> None:
        """Record devices' last contact; where a fix is newer than the stored one, its position too.

        ``moved`` holds (seen at, fix ts, lat, lon, seq, device id); ``seen`` (seen at, device id).
        The CASEs read the row as it was, so a late backlog never moves a device back.
        """
        if self.postgres:
            self._touch_devices_pg(moved, seen)
            return
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

    def _touch_devices_pg(self, moved: list[tuple], seen: list[tuple]) -> None:
        """``touch_devices`` as one UPDATE … FROM unnest(arrays): psycopg runs ``executemany`` row by row.

        One row per device, as the row-by-row updates would leave it: the latest contact, and
        the newest fix (of equal times, the later one).
        """
        rows: dict[int, list] = {}
        for seen_at, ts, lat, lon, seq, device_id in moved:
            row = rows.get(device_id)
            if row is None:
                rows[device_id] = [seen_at, ts, lat, lon, seq, device_id]
                continue
            row[0] = max(row[0], seen_at)
            if row[1] is None or ts >= row[1]:
                row[1:5] = [ts, lat, lon, seq]
        for seen_at, device_id in seen:
            row = rows.setdefault(device_id, [seen_at, None, None, None, None, device_id])
            row[0] = max(row[0], seen_at)
        if not rows:
            return
        newer = "(v.ts IS NOT NULL AND (d.last_fix_at IS NULL OR d.last_fix_at <= v.ts))"
        self.cursor.execute(
            f"UPDATE device AS d SET last_seen_at = v.seen, "
            f"last_lat = CASE WHEN {newer} THEN v.lat ELSE d.last_lat END, "
            f"last_lon = CASE WHEN {newer} THEN v.lon ELSE d.last_lon END, "
            f"last_seq = CASE WHEN {newer} THEN v.seq ELSE d.last_seq END, "
            f"last_fix_at = CASE WHEN {newer} THEN v.ts ELSE d.last_fix_at END "
            f"FROM unnest(%b::timestamptz[], %b::timestamptz[], %b::float8[], %b::float8[], %b::bigint[], "
            f"%b::int[]) AS v(seen, ts, lat, lon, seq, id) WHERE d.id = v.id",
            [list(column) for column in zip(*rows.values())])

    def open_keys(self, keys: list[str]) -> set[str]:
        """Return which of these alert open keys are open."""
        if not keys:
            return set()
        if self.postgres:
            self.cursor.execute("SELECT open_key FROM alert WHERE open_key = ANY(%b::text[])", [keys])
        else:
            self.cursor.execute(f"SELECT open_key FROM alert WHERE open_key IN ({self.marks(len(keys))})", keys)
        return {row[0] for row in self.cursor.fetchall()}

    def track_states(self, trip_ids: list[int]) -> list[tuple[int, str]]:
        """Return (trip id, state JSON text) of these trips, locking the rows on PostgreSQL."""
        if not trip_ids:
            return []
        if self.postgres:
            self.cursor.execute("SELECT trip_id, state::text FROM trip_track_state WHERE trip_id = ANY(%b::int[]) "
                                "ORDER BY trip_id FOR UPDATE", [trip_ids])
        else:
            self.cursor.execute(f"SELECT trip_id, state FROM trip_track_state WHERE trip_id IN "
                                f"({self.marks(len(trip_ids))}) ORDER BY trip_id", trip_ids)
        return [(row[0], row[1]) for row in self.cursor.fetchall()]

    def save_track_states(self, old: Iterable[tuple[str, Any, int]], new: Iterable[tuple[int, str, Any]]) -> None:
        """Write detection states as JSON text: ``old`` rows (text, updated at, trip id) are updated,
        ``new`` rows (trip id, text, updated at) inserted; each trip at most once."""
        m = self.mark
        old, new = list(old), list(new)
        if self.postgres:  # one statement per kind: psycopg runs executemany row by row
            if old:
                self.cursor.execute(
                    "UPDATE trip_track_state AS t SET state = v.state::json, updated_at = v.at "
                    "FROM unnest(%b::text[], %b::timestamptz[], %b::int[]) AS v(state, at, trip_id) "
                    "WHERE t.trip_id = v.trip_id", [list(column) for column in zip(*old)])
            if new:
                self.cursor.execute(
                    "INSERT INTO trip_track_state (trip_id, state, updated_at) "
                    "SELECT trip_id, state::json, at FROM unnest(%b::int[], %b::text[], %b::timestamptz[]) "
                    "AS v(trip_id, state, at)", [list(column) for column in zip(*new)])
            return
        if old:
            self.cursor.executemany(f"UPDATE trip_track_state SET state = {m}, updated_at = {m} "
                                    f"WHERE trip_id = {m}", old)
        if new:
            self.cursor.executemany(f"INSERT INTO trip_track_state (trip_id, state, updated_at) "
                                    f"VALUES ({m}, {m}, {m})", new)


# A new fix reuses a seq when the device already has a stored fix with that seq at another
# time: a counter that started again, not a repeat and not a late fix. One probe of the
# (device_id, seq, ts) index per new row, in the same statement. (PostgreSQL's subquery
# sees the rows as they were before the statement: ``tracking.ingest`` counts reuses among
# the statement's own rows.)
_REUSED = "EXISTS (SELECT 1 FROM fix AS old WHERE old.device_id = fix.device_id AND old.seq = fix.seq AND old.ts <> fix.ts)"
_RETURNING = f"ON CONFLICT (device_id, seq, ts) DO NOTHING RETURNING device_id, seq, ts, {_REUSED}"

# PostgreSQL takes whole columns as arrays: a short statement whatever the number of rows
# (psycopg parses a statement's placeholders in Python, and caches only short statements).
# ``%b``: arrays go in binary, with no text escaping of each element (JSON text is full of it).
_PG_INSERT_FIXES = (
    f"INSERT INTO fix ({', '.join(FIX_COLUMNS)}) SELECT * FROM unnest("
    "%b::int[], %b::bigint[], %b::int[], %b::timestamptz[], %b::timestamptz[], %b::float8[], %b::float8[], "
    f"%b::float8[], %b::float8[], %b::float8[], %b::float8[], %b::float8[], %b::bool[]) {_RETURNING}"
)


@lru_cache(maxsize=INSERT_CHUNK)
def _insert_fixes_sql(mark: str, rows: int) -> str:
    """Return the INSERT … ON CONFLICT DO NOTHING RETURNING for ``rows`` rows."""
    one = "(" + ", ".join([mark] * len(FIX_COLUMNS)) + ")"
    return f"INSERT INTO fix ({', '.join(FIX_COLUMNS)}) VALUES {', '.join([one] * rows)} {_RETURNING}"
