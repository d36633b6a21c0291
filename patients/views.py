"""Thin patient endpoints; every read is audited."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from app.api import ApiError, parse
from app.audit import record
from app.auth import api_roles
from app.db import request_session, utcnow
from patients.models import Patient
from patients.schemas import PatientCreate

api = Blueprint("patients_api", __name__, url_prefix="/api/v1")


def _public(patient: Patient) -> dict:
    """Return the sheet as the API shows it."""
    return {"id": patient.id, "name": patient.name, "contacts": patient.contacts, "medications": patient.medications}


@api.post("/patients")
@api_roles("admin", "dispatcher")
def create_patient():
    """Create a patient sheet."""
    body = parse(PatientCreate)
    session = request_session()
    patient = Patient(name=body.name, contacts=[c.model_dump() for c in body.contacts],
                      medications=[m.model_dump(mode="json", exclude_none=True) for m in body.medications],
                      created_at=utcnow())
    session.add(patient)
    session.flush()
    record(session, g.user, "patient_create", object_type="patient", object_id=patient.id)
    session.commit()
    return jsonify(_public(patient)), 201


@api.get("/patients/<int:patient_id>")
@api_roles("admin", "dispatcher")
def get_patient(patient_id: int):
    """Return a patient sheet and audit the read."""
    session = request_session()
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise ApiError(f"no patient with id {patient_id}", 404)
    record(session, g.user, "patient_read", object_type="patient", object_id=patient.id)
    session.commit()
    return jsonify(_public(patient))
