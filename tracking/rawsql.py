"""The one writer of the track tables (fix, device contact, detection state), as plain driver SQL.

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

Table and column names come from the models (``_Names``), so a renamed column fails at
import, not at the first fix. ``tests/tracking/test_rawsql.py`` checks that rows written here read back through the ORM
equal to rows written through it, on whichever backend the suite runs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, Sequence

from sqlmodel import Session, SQLModel

from tracking.fix import Fix
from tracking.models import Device, FixRow, TripTrackState

UTC = timezone.utc
# Where a session keeps (its transaction, the driver connection, whether PostgreSQL) for RawSQL.
_DRIVER = "tracking.rawsql.driver"
# Rows per SQLite INSERT: 13 values each, well under SQLite's 32,766 parameters.
INSERT_CHUNK = 1000


class _Names:
    """A model's table name (``table``) and column names (attributes), checked against the model."""

    def __init__(self, model: type[SQLModel]) -> None:
        self.table = model.__table__.name
        self._columns = model.__table__.c

    def __getattr__(self, name: str) -> str:
        return self._columns[name].name  # KeyError: the model has no such column


F, D, S = _Names(FixRow), _Names(Device), _Names(TripTrackState)
FIX_COLUMNS = tuple(getattr(F, c) for c in ("device_id", "seq", "trip_id", "ts", "received_at", "lat", "lon",
                                            "accuracy_m", "speed_mps", "heading_deg", "altitude_m", "battery_pct",
                                            "mock"))


class RawSQL:
    """A driver cursor on the session's connection (inside its transaction), and the dialect details it needs.

    Close it when done (``with RawSQL(session) as writer:``); the connection stays the session's.
    """

    def __init__(self, session: Session) -> None:
        # The driver connection is looked up once per transaction: asking the session for it
        # costs more than a small statement, and a group asks several times.
        transaction = session.get_transaction()
        known = session.info.get(_DRIVER)
        if transaction is not None and known is not None and known[0] is transaction:
            _, driver, self.postgres = known
        else:
            conn = session.connection()
            driver, self.postgres = conn.connection, conn.dialect.name == "postgresql"
            session.info[_DRIVER] = (session.get_transaction(), driver, self.postgres)
        self.mark = "%s" if self.postgres else "?"
        self.cursor = driver.cursor()

    def __enter__(self) -> "RawSQL":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the cursor (the connection is the session's and stays open)."""
        self.cursor.close()

    def store(self, batches: Sequence[tuple[int, datetime, Sequence[tuple[Fix, int | None]]]]
              ) -> list[list[tuple[Fix, bool]]]:
        """Store batches of (device id, received at, [(fix, trip id)]) and the devices' last contact.

        Fixes go in one statement, once per (device, seq, ts); each device's row then says when
        it was last seen and, if newer than stored, where. Returns for each batch its new fixes
        as (fix, whether it reuses a seq), in arrival order; a fix repeated in a later batch of
        the same call is new only in the first.
        """
        when = self.when
        bound: list[tuple[int, Any, list[tuple[Fix, Any]]]] = []
        rows = []
        for device_id, now, fixes in batches:
            received_at = when(now)
            times = [(fix, when(fix.ts)) for fix, _ in fixes]
            bound.append((device_id, received_at, times))
            rows.extend((device_id, f.seq, trip_id, ts, received_at, f.lat, f.lon, f.accuracy_m, f.speed_mps,
                         f.heading_deg, f.altitude_m, f.battery_pct, f.mock)
                        for (f, trip_id), (_, ts) in zip(fixes, times))
        new = self.insert_fixes(rows)
        reused = _reuses(new)
        out, moved, seen = [], [], []
        for device_id, received_at, times in bound:
            fresh = []
            newest = None
            for fix, ts in times:
                row_key = (device_id, fix.seq, ts)
                if new.pop(row_key, None) is not None:  # popped: a repeat in a later batch is not new
                    fresh.append((fix, row_key in reused))
                    if newest is None or fix.ts > newest[0].ts:
                        newest = (fix, ts)
            out.append(fresh)
            if newest is None:
                seen.append((received_at, device_id))
            else:
                fix, ts = newest
                moved.append((received_at, ts, fix.lat, fix.lon, fix.seq, device_id))
        self.touch_devices(moved, seen)
        return out

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
        if moved:
            self.cursor.executemany(_SQLITE_TOUCH_MOVED, [(seen_at, ts, lat, ts, lon, ts, seq, ts, ts, device_id)
                                                          for seen_at, ts, lat, lon, seq, device_id in moved])
        if seen:
            self.cursor.executemany(_SQLITE_TOUCH_SEEN, seen)

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
        newer = f"(v.ts IS NOT NULL AND (d.{D.last_fix_at} IS NULL OR d.{D.last_fix_at} <= v.ts))"
        self.cursor.execute(
            f"UPDATE {D.table} AS d SET {D.last_seen_at} = v.seen, "
            f"{D.last_lat} = CASE WHEN {newer} THEN v.lat ELSE d.{D.last_lat} END, "
            f"{D.last_lon} = CASE WHEN {newer} THEN v.lon ELSE d.{D.last_lon} END, "
            f"{D.last_seq} = CASE WHEN {newer} THEN v.seq ELSE d.{D.last_seq} END, "
            f"{D.last_fix_at} = CASE WHEN {newer} THEN v.ts ELSE d.{D.last_fix_at} END "
            f"FROM unnest(%b::timestamptz[], %b::timestamptz[], %b::float8[], %b::float8[], %b::bigint[], "
            f"%b::int[]) AS v(seen, ts, lat, lon, seq, id) WHERE d.{D.id} = v.id",
            [list(column) for column in zip(*rows.values())])

    def existing(self, table: str, column: str, values: list[str]) -> set[str]:
        """Return which of these text values ``table.column`` holds (names from the caller's model)."""
        if not values:
            return set()
        if self.postgres:
            self.cursor.execute(f"SELECT {column} FROM {table} WHERE {column} = ANY(%b::text[])", [values])
        else:
            self.cursor.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({self.marks(len(values))})", values)
        return {row[0] for row in self.cursor.fetchall()}

    def select_in(self, table: str, columns: Sequence[str], where: Sequence[tuple[str, Sequence]],
                  any_of: Sequence[tuple[str, Sequence]] = (), order_desc: str | None = None) -> list[tuple]:
        """Return ``columns`` of the rows of ``table`` where every ``(column, values)`` of ``where``
        holds and, if ``any_of`` is given, at least one of its ``(column, values)`` (names from the
        caller's model; values ints or text; an empty list matches nothing).

        Rows come as the driver gives them (timestamps as stored: for equality checks only), in
        ``order_desc`` descending order when given. Plain SQL: through the ORM, building and
        compiling the statement costs more than the query on the hot path.
        """
        params: list[Any] = []

        def term(column: str, values: Sequence) -> str:
            values = list(values)
            if not values:
                return "1 = 0"
            if self.postgres:
                cast = "text" if isinstance(values[0], str) else "bigint"
                params.append(values)
                return f"{column} = ANY(%b::{cast}[])"
            params.extend(values)
            return f"{column} IN ({self.marks(len(values))})"

        terms = [term(column, values) for column, values in where]
        if any_of:
            terms.append("(" + " OR ".join(term(column, values) for column, values in any_of) + ")")
        sql = f"SELECT {', '.join(columns)} FROM {table}"
        if terms:
            sql += " WHERE " + " AND ".join(terms)
        if order_desc is not None:
            sql += f" ORDER BY {order_desc} DESC"
        self.cursor.execute(sql, params)
        return [tuple(row) for row in self.cursor.fetchall()]

    def newest(self, table: str, column: str) -> Any:
        """Return ``max(table.column)`` as the driver gives it (an index lookup; names from the caller's model).

        For equality checks only: plain SQL skips the ORM's statement handling, which costs
        more than the query.
        """
        self.cursor.execute(f"SELECT max({column}) FROM {table}")
        return self.cursor.fetchone()[0]

    def track_states(self, trip_ids: list[int]) -> list[tuple[int, str]]:
        """Return (trip id, state JSON text) of these trips, locking the rows on PostgreSQL."""
        return [(trip_id, state) for trip_id, state, _leg in self.track_rows(trip_ids)]

    def track_rows(self, trip_ids: list[int]) -> list[tuple[int, str, str | None]]:
        """Return (trip id, state JSON text, pickup leg JSON text or None) of these trips, locking the rows on
        PostgreSQL: one read gives detection its state and the pushed ETA its leg."""
        if not trip_ids:
            return []
        if self.postgres:
            self.cursor.execute(f"SELECT {S.trip_id}, {S.state}::text, {S.pickup_leg}::text FROM {S.table} "
                                f"WHERE {S.trip_id} = ANY(%b::int[]) ORDER BY {S.trip_id} FOR UPDATE", [trip_ids])
        else:
            self.cursor.execute(f"SELECT {S.trip_id}, {S.state}, {S.pickup_leg} FROM {S.table} WHERE {S.trip_id} IN "
                                f"({self.marks(len(trip_ids))}) ORDER BY {S.trip_id}", trip_ids)
        return [(row[0], row[1], row[2]) for row in self.cursor.fetchall()]

    def save_track_states(self, old: Iterable[tuple[str, Any, Any, int]],
                          new: Iterable[tuple[int, str, Any, Any]]) -> None:
        """Write detection states as JSON text: ``old`` rows (text, last fix received at, last detected
        at, trip id) are updated, ``new`` rows (trip id, text, received at, detected at) inserted;
        each trip at most once, timestamps bound by ``when``."""
        m = self.mark
        old, new = list(old), list(new)
        if self.postgres:  # one statement per kind: psycopg runs executemany row by row
            if old:
                self.cursor.execute(
                    f"UPDATE {S.table} AS t SET {S.state} = v.state::json, {S.last_fix_received_at} = v.at, "
                    f"{S.last_detected_at} = v.detected "
                    "FROM unnest(%b::text[], %b::timestamptz[], %b::timestamptz[], %b::int[]) "
                    f"AS v(state, at, detected, trip_id) WHERE t.{S.trip_id} = v.trip_id",
                    [list(column) for column in zip(*old)])
            if new:
                self.cursor.execute(
                    f"INSERT INTO {S.table} ({S.trip_id}, {S.state}, {S.last_fix_received_at}, {S.last_detected_at}) "
                    "SELECT trip_id, state::json, at, detected FROM unnest(%b::int[], %b::text[], "
                    "%b::timestamptz[], %b::timestamptz[]) AS v(trip_id, state, at, detected)",
                    [list(column) for column in zip(*new)])
            return
        if old:
            self.cursor.executemany(f"UPDATE {S.table} SET {S.state} = {m}, {S.last_fix_received_at} = {m}, "
                                    f"{S.last_detected_at} = {m} WHERE {S.trip_id} = {m}", old)
        if new:
            self.cursor.executemany(f"INSERT INTO {S.table} ({S.trip_id}, {S.state}, {S.last_fix_received_at}, "
                                    f"{S.last_detected_at}) VALUES ({m}, {m}, {m}, {m})", new)


# A new fix reuses a seq when the device already has a stored fix with that seq at another
# time: a counter that started again, not a repeat and not a late fix. One probe of the
# (device_id, seq, ts) index per new row, in the same statement. (PostgreSQL's subquery
# sees the rows as they were before the statement: ``dispatch.ingest`` counts reuses among
# the statement's own rows.)
_REUSED = (f"EXISTS (SELECT 1 FROM {F.table} AS old WHERE old.{F.device_id} = {F.table}.{F.device_id} "
           f"AND old.{F.seq} = {F.table}.{F.seq} AND old.{F.ts} <> {F.table}.{F.ts})")
_RETURNING = (f"ON CONFLICT ({F.device_id}, {F.seq}, {F.ts}) DO NOTHING "
              f"RETURNING {F.device_id}, {F.seq}, {F.ts}, {_REUSED}")

# PostgreSQL takes whole columns as arrays: a short statement whatever the number of rows
# (psycopg parses a statement's placeholders in Python, and caches only short statements).
# ``%b``: arrays go in binary, with no text escaping of each element (JSON text is full of it).
_PG_INSERT_FIXES = (
    f"INSERT INTO {F.table} ({', '.join(FIX_COLUMNS)}) SELECT * FROM unnest("
    "%b::int[], %b::bigint[], %b::int[], %b::timestamptz[], %b::timestamptz[], %b::float8[], %b::float8[], "
    f"%b::float8[], %b::float8[], %b::float8[], %b::float8[], %b::float8[], %b::bool[]) {_RETURNING}"
)


# SQLite's device updates, made once (each a few dozen name lookups otherwise, on every group).
_NEWER = f"({D.last_fix_at} IS NULL OR {D.last_fix_at} <= ?)"
_SQLITE_TOUCH_MOVED = (
    f"UPDATE {D.table} SET {D.last_seen_at} = ?, "
    f"{D.last_lat} = CASE WHEN {_NEWER} THEN ? ELSE {D.last_lat} END, "
    f"{D.last_lon} = CASE WHEN {_NEWER} THEN ? ELSE {D.last_lon} END, "
    f"{D.last_seq} = CASE WHEN {_NEWER} THEN ? ELSE {D.last_seq} END, "
    f"{D.last_fix_at} = CASE WHEN {_NEWER} THEN ? ELSE {D.last_fix_at} END "
    f"WHERE {D.id} = ?"
)
_SQLITE_TOUCH_SEEN = f"UPDATE {D.table} SET {D.last_seen_at} = ? WHERE {D.id} = ?"


@lru_cache(maxsize=INSERT_CHUNK)
def _insert_fixes_sql(mark: str, rows: int) -> str:
    """Return the INSERT … ON CONFLICT DO NOTHING RETURNING for ``rows`` rows."""
    one = "(" + ", ".join([mark] * len(FIX_COLUMNS)) + ")"
    return f"INSERT INTO {F.table} ({', '.join(FIX_COLUMNS)}) VALUES {', '.join([one] * rows)} {_RETURNING}"


def _reuses(new: dict[tuple[int, int, Any], bool]) -> set[tuple[int, int, Any]]:
    """Return the new fixes that reuse a seq: of k new fixes with one device and seq, all k if
    one was stored before this statement, else all but the earliest.

    The database marks a row that found its seq stored at another time; whether it sees the
    rows inserted earlier by the same statement depends on the backend (SQLite does,
    PostgreSQL does not): at least k - 1 marked means the database counted them.
    """
    groups: dict[tuple[int, int], list] = {}
    for key in new:
        groups.setdefault(key[:2], []).append(key)
    out = set()
    for keys in groups.values():
        marked = [k for k in keys if new[k]]
        out.update(marked if len(marked) >= len(keys) - 1 else sorted(keys, key=lambda k: k[2])[1:])
    return out
