"""Escort safety: panic, and check-ins where a duress PIN silently calls for help; PIN guessing limited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from app.audit import record
from app.auth import check_secret
from app.models import User
from app.times import iso_z
from dispatch import alerts
from dispatch.models import Alert, Trip, TripEvent

# The PIN limiter. After PIN_FREE_WRONG wrong PINs in a row, each further attempt waits
# PIN_WAIT_BASE_S * 2^(n - PIN_FREE_WRONG) seconds (n: wrong PINs in a row), at most
# PIN_WAIT_MAX_S; a correct PIN, safe or duress, sets n back to 0. Guessing a four-digit PIN
# then takes days instead of half a minute.
PIN_FREE_WRONG = 3
PIN_WAIT_BASE_S = 5.0
PIN_WAIT_MAX_S = 300.0
# Wrong PINs in a row that raise ``pin_attempts`` for dispatch: someone else may hold the tablet.
PIN_ALERT_AFTER = 3
# One answer for a wrong PIN and for any PIN while the escort must wait: it tells neither apart,
# and is true for the escort who typed the right PIN too early.
PIN_NOT_ACCEPTED = "that PIN was not accepted; check it and try again shortly"
_CLAIM_TRIES = 5
# The tablet is reminded this long before a check-in falls due.
REMIND_BEFORE_S = 120.0
# The note on a ``missed_checkin`` that the escort's own check-in closed.
# Without an appointment time, a planned trip allows this for the ride and the waiting.
PLANNED_RIDE = timedelta(minutes=90)
# A live ETA this far off is a broken estimate, not a ride: the dose window stops there.
LIVE_WINDOW_MAX = timedelta(hours=12)
CLOSED_BY_CHECKIN = "closed by the escort's check-in"


class SafetyError(ValueError):
    """A safety request that cannot be taken; the message is safe to show."""


def panic(session: Session, *, trip: Trip | None, device_id: int | None, at: datetime, now: datetime,
          lat: float | None = None, lon: float | None = None, source: str = "device") -> Alert:
    """Raise (or refresh) the panic alert with the last known position."""
    detail = {"source": source}
    if lat is not None and lon is not None:
        detail.update(lat=lat, lon=lon)
    alert, _new = alerts.raise_alert(session, trip_id=trip.id if trip else None, device_id=device_id,
                                     kind="panic", detail=detail, at=at, now=now)
    return alert


@dataclass(frozen=True)
class PinCheck:
    """One PIN attempt's outcome: accepted (and whether with the duress PIN), or not; and the
    ``pin_attempts`` alert a wrong PIN raised or updated, for dispatchers' screens."""

    accepted: bool
    duress: bool = False
    alert: Alert | None = None


def is_pin(pin) -> bool:
    """Say whether ``pin`` is 4 to 8 ASCII digits."""
    return isinstance(pin, str) and pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8


def pin_wait_s(wrong_in_a_row: int) -> float:
    """Return how long any further PIN must wait after ``wrong_in_a_row`` wrong ones (0 for the first few)."""
    if wrong_in_a_row < PIN_FREE_WRONG:
        return 0.0
    return min(PIN_WAIT_BASE_S * 2 ** min(wrong_in_a_row - PIN_FREE_WRONG, 16), PIN_WAIT_MAX_S)


def check_pin(session: Session, user: User, pin, *, trip: Trip | None, device_id: int | None, source: str,
              now: datetime) -> PinCheck:
    """Check an escort's PIN through the limiter; every PIN check goes through here.

    While the escort must wait, the PIN is refused unchecked. A wrong PIN is audited and, from
    PIN_ALERT_AFTER in a row, raises ``pin_attempts``; the caller commits that. Both hashes are
    always computed, and a correct PIN resets the count the same way, so the safe and the
    duress PIN take the same path and time. Raises SafetyError for a malformed PIN (not counted).
    """
    if not is_pin(pin):
        raise SafetyError("enter your 4 to 8 digit PIN")
    if user.safe_pin_hash is None:
        raise SafetyError("no PIN is set for you yet; ask dispatch")
    wrong_so_far = _claim_attempt(session, user.id, now=now)
    if wrong_so_far is None:
        return PinCheck(accepted=False)
    is_safe = check_secret(user.safe_pin_hash, pin)
    is_duress = check_secret(user.duress_pin_hash, pin)
    if is_safe or is_duress:
        session.execute(update(User).where(User.id == user.id).values(pin_failures=0, pin_locked_until=None)
                        .execution_options(synchronize_session=False))
        return PinCheck(accepted=True, duress=is_duress and not is_safe)
    alert = _wrong_pin(session, user, wrong_so_far, trip=trip, device_id=device_id, source=source, now=now)
    return PinCheck(accepted=False, alert=alert)


def _claim_attempt(session: Session, user_id: int, *, now: datetime) -> int | None:
    """Count an attempt as wrong before its PIN is checked; return the count, or None while it must wait.

    A compare-and-swap on the user's row, committed at once: attempts in parallel (other
    connections, other processes) are each counted, and the one that makes the count reach
    PIN_FREE_WRONG sets the wait that refuses the others. A correct PIN then resets the count.
    """
    for _ in range(_CLAIM_TRIES):
        failures, locked_until = session.exec(
            select(User.pin_failures, User.pin_locked_until).where(User.id == user_id)).one()
        if locked_until is not None and locked_until > now:
            return None
        wait_s = pin_wait_s(failures + 1)
        claimed = session.execute(
            update(User).where(User.id == user_id, User.pin_failures == failures)
            .values(pin_failures=failures + 1, pin_locked_until=now + timedelta(seconds=wait_s) if wait_s else None)
            .execution_options(synchronize_session=False)).rowcount
        session.commit()
        if claimed == 1:
            return failures + 1
    return None  # others keep counting attempts at this very moment: refuse this one


def _wrong_pin(session: Session, user: User, wrong_in_a_row: int, *, trip: Trip | None, device_id: int | None,
               source: str, now: datetime) -> Alert | None:
    """Audit a wrong PIN; from PIN_ALERT_AFTER in a row, raise or update ``pin_attempts`` (silent: ``alerts.SILENT``)."""
    trip_id = trip.id if trip else None
    record(session, user, "pin_wrong", object_type="user", object_id=user.id,
           detail={"during": source, "wrong_in_a_row": wrong_in_a_row, "trip_id": trip_id})
    if wrong_in_a_row < PIN_ALERT_AFTER:
        return None
    alert, _new = alerts.raise_alert(session, trip_id=trip_id, device_id=trip.device_id if trip else device_id,
                                     kind="pin_attempts", at=now, now=now,
                                     detail={"escort": user.username, "wrong_in_a_row": wrong_in_a_row,
                                             "during": source})
    return alert


def check_new_pins(safe, duress) -> None:
    """Refuse PINs that are not 4 to 8 digits, or a duress PIN equal to the safe one."""
    for label, pin in (("safe", safe), ("duress", duress)):
        if not is_pin(pin):
            raise SafetyError(f"the {label} PIN must be 4 to 8 digits")
    if safe == duress:
        raise SafetyError("the safe and duress PINs must differ")


def set_pins(user: User, safe: str, duress: str) -> None:
    """Store the escort's two PINs, hashed."""
    from app.auth import hash_secret

    check_new_pins(safe, duress)
    user.safe_pin_hash, user.duress_pin_hash = hash_secret(safe), hash_secret(duress)


def set_escort_pins(session: Session, user: User, safe: str, duress: str, *, by: User | None, via: str) -> None:
    """Set an escort's safe and duress PINs, lift a PIN wait, and audit it (never the PINs themselves)."""
    if user.role != "escort":
        raise SafetyError(f"{user.username!r} is not an escort: only escorts have PINs")
    set_pins(user, safe, duress)
    user.pin_failures, user.pin_locked_until = 0, None
    session.add(user)
    record(session, by, "pins_set", object_type="user", object_id=user.id,
           detail={"username": user.username, "via": via})


def record_checkin(session: Session, user: User, trip: Trip | None, *, now: datetime) -> Alert | None:
    """Write the check-in to the trip's timeline (the same line for either PIN); close an open ``missed_checkin``.

    The escort answered, so escalation stops; the alert is cleared as deviation and stop
    alerts clear themselves (kept for dispatchers, marked cleared), and returned for them.
    """
    if trip is None:
        return None
    session.add(TripEvent(trip_id=trip.id, at=now, kind="checkin", user_id=user.id, detail={"by": user.username}))
    return alerts.auto_resolve(session, trip_id=trip.id, device_id=trip.device_id, kind="missed_checkin",
                               detail={"by": "checkin"}, at=now, now=now, note=CLOSED_BY_CHECKIN)


@dataclass(frozen=True)
class CheckinClock:
    """When the next check-in is due, when the tablet is reminded, and when ``missed_checkin`` is raised."""

    due_at: datetime
    remind_at: datetime
    missed_at: datetime


def checkin_clock(*, started_at: datetime | None, last_checkin: datetime | None, last_driven: datetime | None,
                  on_board: bool, paused_at: datetime | None, interval_s: float, grace_s: float) -> CheckinClock | None:
    """Return the trip's check-in clock from its evidence of life (None before the trip starts).

    A check-in, the start, and (on board, along the route) every fix are evidence of life; a
    check-in is due ``interval_s`` after the latest, reminded REMIND_BEFORE_S before and missed
    ``grace_s`` after. ``paused_at`` is when a deviation or stop alert opened: the fixes after
    it no longer count, and unless the escort has checked in since, a check-in is asked for at
    once, due (and missed) ``grace_s`` later, rather than measured from evidence long past.
    """
    if on_board and last_driven is not None and paused_at is not None:
        last_driven = min(last_driven, paused_at)  # the drive up to the alert still counted
    evidence = [t for t in (last_checkin, started_at, last_driven if on_board else None) if t is not None]
    if not evidence:
        return None
    due = max(evidence) + timedelta(seconds=interval_s)
    clock = CheckinClock(due_at=due, remind_at=due - timedelta(seconds=REMIND_BEFORE_S),
                         missed_at=due + timedelta(seconds=grace_s))
    if on_board and paused_at is not None and (last_checkin is None or last_checkin < paused_at):
        asked_due = paused_at + timedelta(seconds=grace_s)
        if asked_due < clock.missed_at:
            clock = CheckinClock(due_at=asked_due, remind_at=paused_at, missed_at=asked_due)
    return clock


def raise_duress(session: Session, user: User, trip: Trip | None, *, now: datetime) -> Alert:
    """Raise the duress alert for the escort's trip."""
    alert, _new = alerts.raise_alert(session, trip_id=trip.id if trip else None,
                                     device_id=trip.device_id if trip else None, kind="duress",
                                     detail={"escort": user.username}, at=now, now=now)
    return alert


def transit_window(trip: Trip, *, now: datetime, live_dropoff_at: datetime | None = None) -> tuple[datetime, datetime]:
    """Return the span a trip's doses fall in: now to the live drop-off ETA under way, else the planned times.

    Planned: pickup to the appointment, or an hour and a half for the ride and the waiting.
    Live: a trip running late carries its patient past doses the plan never saw.
    """
    if live_dropoff_at is not None:
        return now, min(max(now, live_dropoff_at), now + LIVE_WINDOW_MAX)
    return trip.scheduled_pickup_at, trip.appointment_at or trip.scheduled_pickup_at + PLANNED_RIDE


def medication_warnings(medications: list[dict], start: datetime, end: datetime, tz: str) -> list[dict]:
    """Return the doses that fall inside a trip's expected window, for the planner to see."""
    from patients.medication import doses_between

    return [{"medication": d.name, "dose": d.dose, "due_at": iso_z(d.at)}
            for d in doses_between(medications, start, end, tz)]
