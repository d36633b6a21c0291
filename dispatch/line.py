"""The line between an escort and dispatch: messages on a trip, doses recorded, going on and off duty."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from app import realtime
from app.audit import record
from app.models import User
from dispatch import alerts, codeword, safety
from dispatch.models import Trip, TripEvent, TripMessage
from dispatch.trips import LIVE
from patients.medication import doses_between
from patients.models import Patient
from app.times import iso_z
from tracking.models import Device

MAX_TEXT_CHARS = 500
MAX_REASON_CHARS = 500
# The tablet's one-tap answers (their words are also refused as a code phrase).
QUICK_REPLIES = ("Running 10 minutes late", "Patient not ready", "Need assistance")
OUTCOMES = ("given", "skipped")
# How far back and ahead the tablet lists the patient's doses during a trip.
DOSES_BEHIND = timedelta(hours=6)
DOSES_AHEAD = timedelta(hours=2)
MESSAGES_LISTED = 500


class LineError(ValueError):
    """A request on the line that cannot be taken; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def side_of(user: User) -> str:
    """Return the side a user writes from: the escort, or dispatch (dispatchers and admins)."""
    return "escort" if user.role == "escort" else "dispatch"


def may_write(user: User, trip: Trip) -> bool:
    """Say whether ``user`` may write on the trip's line: its escort, or a dispatcher or admin."""
    return user.role in ("admin", "dispatcher") or (user.role == "escort" and trip.escort_user_id == user.id)


def check_text(text) -> str:
    """Return a message's text stripped, or raise LineError."""
    if not isinstance(text, str) or not text.strip():
        raise LineError(f"text: write the message (1 to {MAX_TEXT_CHARS} characters)")
    text = text.strip()
    if len(text) > MAX_TEXT_CHARS:
        raise LineError(f"text: a message is at most {MAX_TEXT_CHARS} characters")
    if "\x00" in text:
        raise LineError("text: must not contain NUL characters")
    return text


def public(message: TripMessage, names: dict[int, str]) -> dict:
    """Return a message as both sides and the API show it."""
    return {"id": message.id, "trip_id": message.trip_id, "from": message.side,
            "by": names.get(message.user_id), "text": message.text, "at": iso_z(message.at),
            "read_at": iso_z(message.read_at)}


def _names(session: Session, messages: list[TripMessage]) -> dict[int, str]:
    """Return the usernames of the messages' writers."""
    ids = {m.user_id for m in messages if m.user_id}
    return dict(session.exec(select(User.id, User.username).where(User.id.in_(ids))).all()) if ids else {}


def public_many(session: Session, messages: list[TripMessage]) -> list[dict]:
    """Return messages in their public shape."""
    names = _names(session, messages)
    return [public(m, names) for m in messages]


def post(session: Session, trip: Trip, user: User, text, *, now: datetime) -> TripMessage:
    """Write a message on the trip's line and into its timeline (the caller commits)."""
    if not may_write(user, trip):
        raise LineError("only the trip's escort and dispatchers write on its line", 403)
    if trip.status not in LIVE:
        raise LineError(f"the trip is {trip.status.replace('_', ' ')}: messages are for trips assigned or under way",
                        409)
    text = check_text(text)
    message = TripMessage(trip_id=trip.id, side=side_of(user), user_id=user.id, text=text, at=now)
    session.add(message)
    session.flush()
    session.add(TripEvent(trip_id=trip.id, at=now, kind="message", user_id=user.id,
                          detail={"message_id": message.id, "from": message.side, "text": text}))
    return message


def listed(session: Session, trip: Trip) -> list[TripMessage]:
    """Return the trip's messages, oldest first."""
    return list(session.exec(select(TripMessage).where(TripMessage.trip_id == trip.id)
                             .order_by(TripMessage.id).limit(MESSAGES_LISTED)).all())


def mark_read(session: Session, trip: Trip, user: User, up_to, *, now: datetime) -> list[TripMessage]:
    """Mark the other side's messages up to id ``up_to`` read (displayed to ``user``); return those newly read."""
    if not may_write(user, trip):
        raise LineError("only the trip's escort and dispatchers mark its messages read", 403)
    if not isinstance(up_to, int) or isinstance(up_to, bool) or up_to < 1:
        raise LineError("up_to: the id of the newest message displayed, a whole number")
    other = "dispatch" if side_of(user) == "escort" else "escort"
    unread = list(session.exec(select(TripMessage).where(
        TripMessage.trip_id == trip.id, TripMessage.side == other, TripMessage.id <= up_to,
        TripMessage.read_at.is_(None))).all())
    if unread:
        session.execute(update(TripMessage).where(TripMessage.id.in_([m.id for m in unread]),
                                                  TripMessage.read_at.is_(None))
                        .values(read_at=now).execution_options(synchronize_session=False))
        for message in unread:
            message.read_at = now
    return unread


def holds_code_phrase(session: Session, user_id: int, text: str) -> bool:
    """Say whether an escort's message holds their code phrase (slow: one scrypt per candidate run of words)."""
    user = session.get(User, user_id)
    return user is not None and user.role == "escort" and codeword.contains(user.code_phrase_hash, text)


def duress_from_message(session: Session, user_id: int, trip_id: int, text: str, *, now: datetime):
    """Raise the silent duress alert when the message holds the code phrase; return the alert or None."""
    if not holds_code_phrase(session, user_id, text):
        return None
    user = session.get(User, user_id)
    trip = session.get(Trip, trip_id)
    alert = safety.raise_duress(session, user, trip, now=now)
    alert.detail = {**alert.detail, "via": "code phrase"}
    session.add(alert)
    return alert


def set_code_phrase(session: Session, user: User, phrase, *, by: User | None, via: str) -> None:
    """Store an escort's code phrase hashed, audited (never the phrase itself)."""
    if user.role != "escort":
        raise codeword.CodePhraseError(f"{user.username!r} is not an escort: only escorts have a code phrase")
    user.code_phrase_hash = codeword.stored_form(phrase, QUICK_REPLIES)
    session.add(user)
    record(session, by, "code_phrase_set", object_type="user", object_id=user.id,
           detail={"username": user.username, "via": via})


# --- medication ------------------------------------------------------------------------------


def _patient_medications(session: Session, trip: Trip) -> list[dict]:
    """Return the trip's patient's medication list."""
    patient = session.get(Patient, trip.patient_id)
    return list(patient.medications or []) if patient else []


RECORDED_KINDS = ("medication_given", "medication_skipped")


def _recorded(session: Session, trip: Trip) -> list[dict]:
    """Return the doses recorded on the trip, oldest first: medication, outcome, reason, due_at, at, by, key."""
    rows = session.exec(select(TripEvent).where(TripEvent.trip_id == trip.id, TripEvent.kind.in_(RECORDED_KINDS))
                        .order_by(TripEvent.at, TripEvent.id)).all()
    out = []
    for row in rows:
        detail = alerts.opened(row.detail)
        out.append({"medication": detail.get("medication"), "dose": detail.get("dose"),
                    "outcome": row.kind.removeprefix("medication_"), "reason": detail.get("reason"),
                    "due_at": detail.get("due_at"), "at": iso_z(row.at), "by": detail.get("by"),
                    "key": detail.get("key")})
    return out


def doses(session: Session, trip: Trip, *, now: datetime, tz: str) -> dict:
    """Return the doses the tablet shows: due (or soon) and not yet recorded, and those recorded."""
    recorded = _recorded(session, trip)
    done = {r["key"] for r in recorded if r["key"]}
    meds = _patient_medications(session, trip)
    start = max(trip.started_at or trip.scheduled_pickup_at, now - DOSES_BEHIND)
    due = [{"medication": d.name, "dose": d.dose, "due_at": iso_z(d.at)}
           for d in doses_between(meds, min(start, now), now + DOSES_AHEAD, tz) if d.key() not in done]
    return {"due": due, "recorded": [{k: v for k, v in r.items() if k != "key"} for r in recorded]}


def _which_dose(session: Session, trip: Trip, meds: list[dict], medication: str, due_at, *, now: datetime, tz: str):
    """Return the scheduled dose a record is for: the one due at ``due_at``, else the oldest not yet recorded."""
    done = {r["key"] for r in _recorded(session, trip) if r["key"]}
    start = max(trip.started_at or trip.scheduled_pickup_at, now - DOSES_BEHIND)
    mine = [d for d in doses_between(meds, min(start, now), now + DOSES_AHEAD, tz) if d.name == medication]
    if due_at is not None:
        named = [d for d in mine if iso_z(d.at) == due_at or d.at.isoformat() == due_at]
        if not named:
            raise LineError(f"due_at: no dose of {medication} is due at {due_at}")
        return named[0]
    return next((d for d in mine if d.key() not in done), None)


def record_dose(session: Session, trip: Trip, user: User, *, medication, outcome, reason, due_at: str | None,
                now: datetime, tz: str = "UTC"):
    """Record a dose as given or skipped (with a reason) in the timeline; close ``medication_due`` for it.

    Returns (the timeline event, the cleared alert or None); the caller commits. The record
    names the scheduled dose (``key``, as the reminders do), so the sweep neither reminds of it
    nor alerts on it again.
    """
    if not may_write(user, trip):
        raise LineError("only the trip's escort and dispatchers record its doses", 403)
    meds = _patient_medications(session, trip)
    names = [m.get("name") for m in meds]
    if not isinstance(medication, str) or medication not in names:
        listed_names = ", ".join(n for n in names if n) or "none"
        raise LineError(f"medication: not one of this patient's medications ({listed_names})")
    if outcome not in OUTCOMES:
        raise LineError("outcome: \"given\" or \"skipped\"")
    reason = reason.strip() if isinstance(reason, str) else None
    if outcome == "skipped" and not reason:
        raise LineError("reason: say why the dose was skipped")
    if reason and len(reason) > MAX_REASON_CHARS:
        raise LineError(f"reason: at most {MAX_REASON_CHARS} characters")
    dose = _which_dose(session, trip, meds, medication, due_at, now=now, tz=tz)
    amount = next((m.get("dose") for m in meds if m.get("name") == medication), None)
    detail = {"medication": medication, "dose": amount, "reason": reason or None,
              "due_at": iso_z(dose.at) if dose else None, "key": dose.key() if dose else None, "by": user.username}
    event = TripEvent(trip_id=trip.id, at=now, kind=f"medication_{outcome}", user_id=user.id,
                      detail=alerts.sealed(detail))
    session.add(event)
    cleared = None
    open_alert = alerts.find_open(session, trip.id, trip.device_id, "medication_due")
    if open_alert is not None and alerts.opened(open_alert.detail).get("medication") == medication:
        cleared = alerts.auto_resolve(session, trip_id=trip.id, device_id=trip.device_id, kind="medication_due",
                                      detail={"by": user.username, "outcome": outcome}, at=now, now=now,
                                      note=f"recorded as {outcome} by {user.username}")
    return event, cleared


# --- on duty, off duty -----------------------------------------------------------------------


def set_duty(session: Session, user: User, on, *, via: str) -> bool:
    """Switch an escort on or off duty, audited; return whether their position is now shared."""
    if user.role != "escort":
        raise LineError("only escorts go on and off duty")
    if not isinstance(on, bool):
        raise LineError("on: true or false")
    if user.on_duty != on:
        user.on_duty = on
        session.add(user)
        record(session, user, "duty_on" if on else "duty_off", object_type="user", object_id=user.id,
               detail={"via": via})
    return sharing(session, user)


def duty_public(session: Session, user: User, shared: bool) -> dict:
    """Return a duty change as dispatchers hear it: the escort, their devices, and whether they are shown."""
    devices = session.exec(select(Device.id).where(Device.escort_user_id == user.id)).all()
    return {"escort": user.username, "on": user.on_duty, "sharing": shared, "device_ids": sorted(devices)}


def emit_duty(payload: dict) -> None:
    """Tell dispatchers of a duty change (off duty with no trip, the escort's marker leaves the map)."""
    realtime.socketio.emit("duty", payload, namespace=realtime.DISPATCH_NS, to=realtime.DISPATCHERS_ROOM)


def sharing(session: Session, user: User) -> bool:
    """Say whether the escort's position is shared: on duty, or with a trip assigned or under way."""
    if user.on_duty:
        return True
    return session.exec(select(Trip.id).where(Trip.escort_user_id == user.id, Trip.status.in_(LIVE))
                        .limit(1)).first() is not None


def hidden_devices(session: Session, device_ids: list[int]) -> set[int]:
    """Return which of these devices belong to an escort who is off duty with no trip assigned or under way.

    Devices linked to no escort (a vehicle's tracker) are never hidden: duty is a person's.
    """
    if not device_ids:
        return set()
    rows = session.exec(select(Device.id, Device.escort_user_id).join(User, User.id == Device.escort_user_id)
                        .where(Device.id.in_(device_ids), User.on_duty.is_(False))).all()
    if not rows:
        return set()
    escorts = {escort for _, escort in rows}
    busy_escorts = set(session.exec(select(Trip.escort_user_id).where(
        Trip.escort_user_id.in_(escorts), Trip.status.in_(LIVE))).all())
    busy_devices = set(session.exec(select(Trip.device_id).where(
        Trip.device_id.in_([d for d, _ in rows]), Trip.status.in_(LIVE))).all())
    return {d for d, escort in rows if escort not in busy_escorts and d not in busy_devices}


# --- commit, then tell both sides ------------------------------------------------------------


def emit_messages(payloads: list[dict], escort_user_id: int | None) -> None:
    """Send new or newly read messages to dispatchers and to the trip's escort."""
    for payload in payloads:
        realtime.socketio.emit("message", payload, namespace=realtime.DISPATCH_NS, to=realtime.DISPATCHERS_ROOM)
        if escort_user_id is not None:
            realtime.emit_to_escort("message", payload, escort_user_id)


def send(session: Session, trip: Trip, user: User, text, *, now: datetime) -> dict:
    """Write a message, commit, tell both sides; an escort's code phrase in it silently raises duress.

    The code phrase is looked for in a background task after the answer is built, so neither
    the answer nor its timing tells whether the message held it.
    """
    message = post(session, trip, user, text, now=now)
    session.commit()
    payload = public(message, {user.id: user.username})
    emit_messages([payload], trip.escort_user_id)
    if message.side == "escort" and user.code_phrase_hash:
        realtime.socketio.start_background_task(_duress_task, session.get_bind(), user.id, trip.id, message.text, now)
    return payload


def _duress_task(engine, user_id: int, trip_id: int, text: str, now: datetime) -> None:
    """Raise duress if the message held the code phrase, and tell dispatchers (never the escort)."""
    with Session(engine, expire_on_commit=False) as session:
        alert = duress_from_message(session, user_id, trip_id, text, now=now)
        if alert is None:
            return
        session.commit()
        realtime.emit_alert(alerts.public(alert))


def read(session: Session, trip: Trip, user: User, up_to, *, now: datetime) -> list[dict]:
    """Mark the other side's messages read, commit, and tell both sides which were read."""
    newly = mark_read(session, trip, user, up_to, now=now)
    session.commit()
    payloads = public_many(session, newly)
    emit_messages(payloads, trip.escort_user_id)
    return payloads


def record_dose_and_tell(session: Session, trip: Trip, user: User, *, medication, outcome, reason,
                         due_at: str | None, now: datetime, tz: str = "UTC") -> dict:
    """Record a dose, commit, and tell dispatchers of the ``medication_due`` it closed."""
    event, cleared = record_dose(session, trip, user, medication=medication, outcome=outcome, reason=reason,
                                 due_at=due_at, now=now, tz=tz)
    session.commit()
    if cleared is not None:
        realtime.emit_alert(alerts.public(cleared))
    detail = alerts.opened(event.detail)
    return {"trip_id": trip.id, "medication": detail["medication"], "dose": detail.get("dose"),
            "outcome": outcome, "reason": detail.get("reason"), "due_at": detail.get("due_at"), "at": iso_z(event.at),
            "closed_alert_id": cleared.id if cleared is not None else None}
