"""Thin patient endpoints: the sheet by API and as a page. Every read, refusal and change is audited."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from app.api import ApiError, parse
from app.audit import record
from app.auth import api_roles, page_roles
from app.db import request_session, utcnow
from dispatch import access, directory
from patients import form, sheet
from patients.models import Patient
from patients.schemas import PatientCreate, SheetFields
from places.cache import words_at
from places.schemas import Located
from places.views import place_of

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
    _place_home(body)
    _home_words(body)
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
    found = directory.search(request_session(), request.args.get("q"))
    return jsonify([{"id": p.id, "name": p.name, "member_id": p.member_id, "mobility": p.mobility} for p in found])


def _place_home(body: SheetFields) -> None:
    """Geocode a home given as an address into its position (and its words, unless the address is given too)."""
    if body.home is None or body.home.address is None:
        return
    found = place_of(body.home.address, "home")
    body.home = Located(lat=found.lat, lon=found.lon)
    if "home_address" not in body.model_fields_set:
        body.home_address = found.label[:300]


def _home_words(body: SheetFields, patient: Patient | None = None) -> None:
    """Give a home placed by its position (a pin, or lat and lon) and no words the nearest address known.

    The form's own lookup may not have answered when the form was sent, and a REST client may
    give only lat and lon. Words given, or kept on the sheet and not changed, are never
    replaced. One geocoder question at most, at save time (never on the ingest path); when it
    does not answer, the home is saved by its position, as before.
    """
    if body.home is None or body.home_address:
        return
    kept = (patient.details or {}).get("home_address") if patient is not None else None
    if kept and "home_address" not in body.model_fields_set:
        return
    found = words_at(request_session(), current_app.extensions["escort"].geocoder, [(body.home.lat, body.home.lon)],
                     now=utcnow(), ask_limit=1)
    if found.labels[0]:
        body.home_address = found.labels[0][:300]


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
    _place_home(body)
    _home_words(body, patient)
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
    trip_page = "dispatch.trip_page" if g.user.role in STAFF else "logs.trip_log"
    return render_template("patients/sheet.html", p=sheet.shown(session, patient, view, now=now, tz=_tz()),
                           trips=directory.patient_trips(session, g.user, patient, now=now, tz=_tz()), trip_page=trip_page,
                           can_edit=g.user.role in STAFF)


@pages.route("/patients")
@page_roles(*STAFF)
def patient_list():
    """List patients, searched by name or member ID, with each one's next trip (names only: not a sheet read)."""
    session = request_session()
    q = (request.args.get("q") or "").strip()[:directory.QUERY_MAX_CHARS]
    found = directory.search(session, q)
    return render_template("patients/list.html", patients=found, q=q, limit=directory.SEARCH_LIMIT,
                           next_trips=directory.next_trips(session, [p.id for p in found], tz=_tz()))


@pages.route("/patients/new", methods=["GET", "POST"])
@page_roles(*STAFF)
def new_patient():
    """Show the empty sheet form; on save, create the patient as the API does and open the sheet."""
    if request.method == "GET":
        return _form_page(form.empty_form(), None)
    return _save(None)


@pages.route("/patients/<int:patient_id>/edit", methods=["GET", "POST"])
@page_roles(*STAFF)
def edit_patient(patient_id: int):
    """Show the whole sheet as a form (a read: audited); on save, write it as the API does."""
    session = request_session()
    patient = session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    if request.method == "GET":
        now = utcnow()
        record(session, g.user, "patient_read", object_type="patient", object_id=patient.id,
               detail={"view": access.FULL, "form": "edit"})
        session.commit()
        return _form_page(form.from_sheet(sheet.shown(session, patient, access.FULL, now=now, tz=_tz()), tz=_tz()),
                          patient)
    return _save(patient)


def _save(patient: Patient | None):
    """Validate the submitted sheet with the API's model and save it, or show the form again with its errors."""
    submitted = form.read_form(request.form)
    adding = request.form.get("add")
    if adding:
        return _form_page(form.add_row(submitted, adding), patient)
    body = form.validate(submitted, tz=_tz())
    if body is None:
        return _form_page(submitted, patient, 400)
    _home_words(body, patient)  # a pin whose address lookup had not answered when the form was sent
    session = request_session()
    now = utcnow()
    creating = patient is None
    target = patient or Patient(name=body.name, created_at=now)
    try:
        fields = sheet.apply(session, target, body, now=now)
    except sheet.SheetError as exc:
        session.rollback()
        form.sheet_error(submitted, str(exc))
        return _form_page(submitted, patient, 400)
    session.add(target)
    session.flush()
    record(session, g.user, "patient_create" if creating else "patient_update", object_type="patient",
           object_id=target.id, detail={"fields": fields})
    session.commit()
    flash("Patient sheet created." if creating else "Patient sheet saved.")  # no name: the cookie is readable
    return redirect(url_for("patients.sheet_page", patient_id=target.id))


def _form_page(sheet_form: form.SheetForm, patient: Patient | None, status: int = 200):
    """Render the sheet form (new or edit) with its values, rows and errors."""
    known = directory.coordinators(request_session())
    current = sheet_form.values.get("coordinator")
    if current and current not in known:
        known.append(current)  # keep a departed coordinator visible until someone changes it
    cfg = current_app.extensions["escort"].config
    return render_template("patients/form.html", f=sheet_form, patient=patient, coordinators=known,
                           tz=_tz(), max_rows=form.MAX_ROWS, tile_url=cfg.tile_url,
                           tile_attribution=cfg.tile_attribution), status
