"""Thin patient endpoints: the sheet by API and as a page. Every read, refusal and change is audited."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request
from sqlmodel import select

from app.api import ApiError, parse
from app.audit import record
from app.auth import api_roles, page_roles
from app.db import request_session, utcnow
from patients import access, sheet
from patients.models import Patient
from patients.schemas import PatientCreate, SheetFields

api = Blueprint("patients_api", __name__, url_prefix="/api/v1")
pages = Blueprint("patients", __name__)

STAFF = ("admin", "dispatcher")
EVERYONE = ("admin", "dispatcher", "escort", "coordinator")
NOT_YOURS = "not your patient: you may see the sheet of your own trip's patient only"


def _tz() -> str:
    """Return the service's time zone (medication times of day are local)."""
    return current_app.extensions["escort"].config.timezone


@api.post("/patients")
@api_roles(*STAFF)
def create_patient():
    """Create a patient sheet."""
    body = parse(PatientCreate)
    session = request_session()
    now = utcnow()
    patient = Patient(name=body.name, created_at=now)
    try:
        fields = sheet.apply(session, patient, body, now=now)
    except sheet.SheetError as exc:
        raise ApiError(str(exc)) from None
    session.add(patient)
    session.flush()
    record(session, g.user, "patient_create", object_type="patient", object_id=patient.id,
           detail={"fields": fields})
    session.commit()
    return jsonify(sheet.shown(session, patient, access.FULL, now=now, tz=_tz())), 201


@api.get("/patients")
@api_roles(*STAFF)
def list_patients():
    """List patients by name and member ID (no sheet content); ``q`` filters by either."""
    session = request_session()
    query = select(Patient).order_by(Patient.name, Patient.id).limit(200)
    q = (request.args.get("q") or "").strip()[:100]
    if q:
        query = query.where(Patient.name.icontains(q, autoescape=True) | Patient.member_id.icontains(q, autoescape=True))
    return jsonify([{"id": p.id, "name": p.name, "member_id": p.member_id, "mobility": p.mobility}
                    for p in session.exec(query).all()])


def _readable(patient_id: int) -> tuple[Patient, str]:
    """Return the patient and how much of the sheet this user may see; audit either way."""
    session = request_session()
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise ApiError(f"no patient with id {patient_id}", 404)
    view = access.sheet_view(session, g.user, patient, now=utcnow())
    if view is None:
        record(session, g.user, "patient_read_denied", object_type="patient", object_id=patient.id)
        session.commit()
        raise ApiError(NOT_YOURS, 403)
    record(session, g.user, "patient_read", object_type="patient", object_id=patient.id, detail={"view": view})
    session.commit()
    return patient, view


@api.get("/patients/<int:patient_id>")
@api_roles(*EVERYONE)
def get_patient(patient_id: int):
    """Return the sheet as this user may see it, and audit the read."""
    patient, view = _readable(patient_id)
    return jsonify(sheet.shown(request_session(), patient, view, now=utcnow(), tz=_tz()))


@api.patch("/patients/<int:patient_id>")
@api_roles(*STAFF)
def update_patient(patient_id: int):
    """Change some fields of a sheet; the audit log names which."""
    body = parse(SheetFields)
    session = request_session()
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise ApiError(f"no patient with id {patient_id}", 404)
    now = utcnow()
    try:
        fields = sheet.apply(session, patient, body, now=now)
    except sheet.SheetError as exc:
        raise ApiError(str(exc)) from None
    session.add(patient)
    record(session, g.user, "patient_update", object_type="patient", object_id=patient.id, detail={"fields": fields})
    session.commit()
    return jsonify(sheet.shown(session, patient, access.FULL, now=now, tz=_tz()))


@pages.route("/patients/<int:patient_id>")
@page_roles(*EVERYONE)
def sheet_page(patient_id: int):
    """Show the sheet as this user may see it: contacts one tap away, guidance for the escort."""
    session = request_session()
    patient = session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    now = utcnow()
    view = access.sheet_view(session, g.user, patient, now=now)
    if view is None:
        record(session, g.user, "patient_read_denied", object_type="patient", object_id=patient.id)
        session.commit()
        return render_template("patients/not_yours.html"), 403
    record(session, g.user, "patient_read", object_type="patient", object_id=patient.id, detail={"view": view})
    session.commit()
    return render_template("patients/sheet.html", p=sheet.shown(session, patient, view, now=now, tz=_tz()))
