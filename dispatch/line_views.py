"""Thin REST views of the line: a trip's messages, marking them read, and doses given or skipped."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from app.api import ApiError, parse
from app.auth import api_roles
from app.db import request_session, utcnow
from dispatch import line
from dispatch.line_schemas import DoseIn, MessageIn, MessagesRead
from dispatch.models import Trip
from dispatch import access

api = Blueprint("line_api", __name__, url_prefix="/api/v1")

EVERYONE = ("admin", "dispatcher", "escort", "coordinator")
WRITERS = ("admin", "dispatcher", "escort")


def _trip(trip_id: int) -> Trip:
    """Return the trip, or answer 404 when there is none or this user may not see it."""
    return access.visible_trip(request_session(), g.user, trip_id)


@api.get("/trips/<int:trip_id>/messages")
@api_roles(*EVERYONE)
def list_messages(trip_id: int):
    """List the trip's messages, oldest first (coordinators read them; only the two sides write)."""
    session = request_session()
    return jsonify(line.public_many(session, line.listed(session, _trip(trip_id))))


@api.post("/trips/<int:trip_id>/messages")
@api_roles(*WRITERS)
def post_message(trip_id: int):
    """Write a message on the trip's line: ``{"text"}``."""
    trip = _trip(trip_id)
    body = parse(MessageIn)
    try:
        return jsonify(line.send(request_session(), trip, g.user, body.text, now=utcnow())), 201
    except line.LineError as exc:
        raise ApiError(str(exc), exc.status) from None


@api.post("/trips/<int:trip_id>/messages/read")
@api_roles(*WRITERS)
def read_messages(trip_id: int):
    """Mark the other side's messages up to ``{"up_to": id}`` as read (displayed); answer those newly read."""
    trip = _trip(trip_id)
    body = parse(MessagesRead)
    try:
        return jsonify(line.read(request_session(), trip, g.user, body.up_to, now=utcnow()))
    except line.LineError as exc:
        raise ApiError(str(exc), exc.status) from None


@api.get("/trips/<int:trip_id>/medications")
@api_roles(*EVERYONE)
def list_doses(trip_id: int):
    """Return the doses due during the trip and not yet recorded, and those recorded."""
    trip = _trip(trip_id)
    tz = current_app.extensions["escort"].config.timezone
    return jsonify(line.doses(request_session(), trip, now=utcnow(), tz=tz))


@api.post("/trips/<int:trip_id>/medications")
@api_roles(*WRITERS)
def record_dose(trip_id: int):
    """Record a dose ``{"medication", "outcome": "given"|"skipped", "reason"?, "due_at"?}``; close ``medication_due``."""
    trip = _trip(trip_id)
    body = parse(DoseIn)
    try:
        return jsonify(line.record_dose_and_tell(
            request_session(), trip, g.user, medication=body.medication, outcome=body.outcome,
            reason=body.reason, due_at=body.due_at, now=utcnow(),
            tz=current_app.extensions["escort"].config.timezone)), 201
    except line.LineError as exc:
        raise ApiError(str(exc), exc.status) from None
