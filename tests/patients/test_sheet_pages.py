"""The patient pages: the list with search, the sheet form (the API's models, errors at their fields), trips on the sheet."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlmodel import select

from app.db import utcnow
from app.models import AuditEvent
from patients.models import Patient
from tests.factories import csrf_token, login
from tests.patients.test_sheet import FULL_SHEET

# FULL_SHEET as the form sends it: flat fields, lists one a line, times with commas.
FULL_FORM = {
    "name": "Rosa Bianchi", "date_of_birth": "1938-04-02", "member_id": "MB-20417", "language": "Italian",
    "interpreter_needed": "on", "home_address": "Flat 3, 12 Quillfeather Row, London",
    "mobility": "wheelchair", "assistance": "door_through_door", "stairs_count": "4",
    "equipment-rows": "2", "equipment-0-name": "oxygen", "equipment-0-oxygen_flow_lpm": "2",
    "conditions": "vascular dementia", "allergies": "penicillin", "infection_control": "MRSA: contact precautions",
    "cognitive-orientation": "knows her name, not the date", "cognitive-wandering_risk": "high",
    "cognitive-fall_risk": "medium",
    "cognitive-guidance": "Speak slowly, in Italian if you can; never leave her alone at the door.",
    "advance_directive-dnr": "on", "advance_directive-document_location": "in the red folder in her bag",
    "contacts-rows": "3", "contacts-0-name": "Zebedee Quintrell", "contacts-0-phone": "+44 20 7946 0111",
    "contacts-0-relation": "son", "contacts-0-role": "emergency", "contacts-1-name": "Dr Okafor",
    "contacts-1-phone": "+44 20 7946 0222", "contacts-1-role": "physician", "contacts-2-role": "emergency",
    "medications-rows": "1", "medications-0-name": "Xylofenamate", "medications-0-dose": "5 mg",
    "medications-0-times": "20:00, 08:00",
    "escort_notes": "Likes to hold the door handle when getting out.",
    "dispatcher_notes": "Son disputes guardianship; never give him trip times.",
    "coordinator": "cora",
}


def _staff(app, name="dan"):
    client = app.test_client()
    login(client, name)
    return client, csrf_token(client)


def _errors(html: str) -> dict[str, str]:
    """Return {field id: message} shown at the fields."""
    return {m[0]: unescape(re.sub(r"<[^>]+>", "", m[1])).replace("Error:", "").strip()
            for m in re.findall(r'<p class="field-error" id="([^"]+)-error">(.*?)</p>', html, re.S)}


def _summary(html: str) -> dict[str, str]:
    """Return {linked field id: message} of the error summary."""
    box = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert box, "no error summary"
    return {fid: unescape(text) for fid, text in re.findall(r'<a href="#([^"]+)">(.*?)</a>', box.group(0))}


def _value(html: str, field_id: str) -> str | None:
    """Return the value an input shows."""
    m = re.search(rf'<input id="{re.escape(field_id)}"[^>]*value="([^"]*)"', html)
    return unescape(m.group(1)) if m else None


def _sheet(app, world, patient_id: int) -> dict:
    resp = app.test_client().get(f"/api/v1/patients/{patient_id}", headers=world.bearer("dan"))
    assert resp.status_code == 200, resp.json
    return resp.json


def test_the_form_stores_the_same_sheet_as_the_api(app, world, session):
    client, token = _staff(app)
    resp = client.post("/patients/new", data={**FULL_FORM, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    made = session.exec(select(Patient).where(Patient.name == "Rosa Bianchi")).one()
    assert resp.headers["Location"].endswith(f"/patients/{made.id}")
    by_api = app.test_client().post("/api/v1/patients", json=FULL_SHEET, headers=world.bearer("dan")).json
    by_form = _sheet(app, world, made.id)
    for key in ("id", "updated_at"):
        by_form.pop(key), by_api.pop(key)
    assert by_form == by_api
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "patient_create",
                                                  AuditEvent.object_id == made.id)).one()
    assert audit.username == "dan" and "medications" in audit.detail["fields"]


def test_errors_show_at_their_fields_and_in_the_summary_with_the_values_kept(app, world, session):
    client, token = _staff(app)
    before = len(session.exec(select(Patient)).all())
    bad = {**FULL_FORM, "csrf_token": token, "date_of_birth": "1938-02-30", "medications-0-times": "08:00, 25:00",
           "contacts-1-phone": "call me", "stairs_count": "four", "equipment-0-oxygen_flow_lpm": "40",
           "advance_directive-document_location": "", "name": "  "}
    resp = client.post("/patients/new", data=bad)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    errors = _errors(html)
    assert errors == {
        "name": "Name is required",
        "date_of_birth": "Date of birth must be a real date written as year-month-day, e.g. 1938-04-02",
        "stairs_count": "Stairs at home must be a whole number",
        "equipment-0-oxygen_flow_lpm": "Equipment 1 oxygen flow (l/min) must be at most 25",
        "medications-0-times": "Medication 1 times of day: '25:00' is not a time of day like 08:00",
        "advance_directive-document_location": "Advance directive needs where the signed DNR form travels",
        "contacts-1-phone": "Contact 2 phone must be a phone number such as +44 20 7946 0958",
    }
    summary = _summary(html)
    assert list(summary) == list(errors)  # the page's order: the summary reads like the form
    assert summary == errors
    assert _value(html, "date_of_birth") == "1938-02-30"
    assert _value(html, "medications-0-times") == "08:00, 25:00"
    assert _value(html, "contacts-1-phone") == "call me"
    assert _value(html, "contacts-0-name") == "Zebedee Quintrell"
    assert 'aria-describedby="date_of_birth-hint date_of_birth-error"' in html
    assert html.count('aria-invalid="true"') == len(errors)
    session.expire_all()
    assert len(session.exec(select(Patient)).all()) == before


def test_model_checks_of_a_whole_item_land_at_the_field_they_ask_for(app, world):
    client, token = _staff(app)
    resp = client.post("/patients/new", data={
        "csrf_token": token, "name": "Ann", "mobility": "stretcher", "assistance": "curb_to_curb",
        "medications-rows": "2", "medications-0-name": "A", "medications-0-dose": "1",
        "medications-1-name": "B", "medications-1-dose": "2", "medications-1-every_hours": "6"})
    assert _errors(resp.get_data(as_text=True)) == {
        "medications-0-times": "Medication 1 needs times of day, or every (hours) with the last dose",
        "medications-1-last_dose_at": "Medication 2 needs the last dose to count every (hours) from"}


def test_last_dose_is_local_time_in_the_form_and_utc_in_the_sheet(app, world, session):
    client, token = _staff(app)
    resp = client.post("/patients/new", data={
        "csrf_token": token, "name": "Ann", "mobility": "stretcher", "assistance": "curb_to_curb",
        "medications-rows": "1", "medications-0-name": "A",
        "medications-0-dose": "1", "medications-0-every_hours": "6", "medications-0-last_dose_at": "2026-07-01T08:30"})
    assert resp.status_code == 302
    made = session.exec(select(Patient).where(Patient.name == "Ann")).one()
    tz = app.extensions["escort"].config.timezone
    from datetime import datetime
    from zoneinfo import ZoneInfo

    expected = datetime(2026, 7, 1, 8, 30, tzinfo=ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))
    stored = datetime.fromisoformat(_sheet(app, world, made.id)["medications"][0]["last_dose_at"])
    assert stored == expected
    html = client.get(f"/patients/{made.id}/edit").get_data(as_text=True)
    assert _value(html, "medications-0-last_dose_at") == "2026-07-01T08:30"


def test_add_another_contact_adds_a_row_keeps_the_values_and_saves_nothing(app, world, session):
    client, token = _staff(app)
    form = {"csrf_token": token, "name": "Ann", "date_of_birth": "nonsense", "contacts-rows": "1",
            "contacts-0-name": "Sam", "contacts-0-phone": "+44 20 7946 0000", "add": "contacts"}
    resp = client.post("/patients/new", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert _value(html, "contacts-0-name") == "Sam" and _value(html, "date_of_birth") == "nonsense"
    assert re.search(r'<input id="contacts-1-name"[^>]*autofocus', html)
    assert 'name="contacts-rows" value="2"' in html
    assert "error-summary" not in html  # asking for a row is not a failed save
    assert session.exec(select(Patient).where(Patient.name == "Ann")).first() is None


def test_edit_writes_the_whole_sheet_and_is_audited(app, world, session):
    client, token = _staff(app)
    made = app.test_client().post("/api/v1/patients", json=FULL_SHEET, headers=world.bearer("dan")).json
    html = client.get(f"/patients/{made['id']}/edit").get_data(as_text=True)
    assert _value(html, "contacts-0-name") == "Zebedee Quintrell"
    assert _value(html, "contacts-2-name") is None  # "Add another contact" adds a row
    assert _value(html, "medications-1-name") is None and _value(html, "equipment-0-name") == "oxygen"
    assert _value(html, "medications-0-times") == "08:00, 20:00"
    assert re.search(r"<textarea id=\"allergies\"[^>]*>penicillin</textarea>", html)
    form = {**FULL_FORM, "csrf_token": token, "allergies": "penicillin\nlatex", "escort_notes": "",
            "contacts-0-name": "", "contacts-0-phone": "", "contacts-0-relation": ""}
    resp = client.post(f"/patients/{made['id']}/edit", data=form)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    got = _sheet(app, world, made["id"])
    assert got["allergies"] == ["penicillin", "latex"]
    assert "escort_notes" not in got  # cleared
    assert [c["name"] for c in got["contacts"]] == ["Dr Okafor"]
    actions = [(a.action, a.detail) for a in session.exec(
        select(AuditEvent).where(AuditEvent.object_id == made["id"], AuditEvent.username == "dan")
        .order_by(AuditEvent.id)).all()]
    assert ("patient_read", {"view": "full", "form": "edit"}) in actions
    assert any(a == "patient_update" and "allergies" in d["fields"] for a, d in actions)


def test_an_unknown_coordinator_is_an_error_at_its_field_and_nothing_changes(app, world, session):
    client, token = _staff(app)
    resp = client.post(f"/patients/{world.patient.id}/edit",
                       data={"csrf_token": token, "name": "Renamed", "coordinator": "dan",
                             "mobility": "ambulatory", "assistance": "door_to_door"})
    assert resp.status_code == 400
    assert _errors(resp.get_data(as_text=True)) == {"coordinator": "no care coordinator called 'dan'"}
    session.expire_all()
    assert session.get(Patient, world.patient.id).name == "Pat Example"


@pytest.mark.parametrize("who", ["eve", "cora", "emil"])
def test_escorts_and_coordinators_may_not_create_or_edit(app, world, session, who):
    client = app.test_client()
    login(client, who)
    token = csrf_token(client)
    for url in ("/patients/new", f"/patients/{world.patient.id}/edit", "/patients"):
        assert client.get(url).status_code == 403, url
    assert client.post("/patients/new", data={"csrf_token": token, "name": "Sneaky"}).status_code == 403
    assert client.post(f"/patients/{world.patient.id}/edit",
                       data={"csrf_token": token, "name": "Sneaky"}).status_code == 403
    session.expire_all()
    assert session.exec(select(Patient).where(Patient.name == "Sneaky")).first() is None
    assert session.get(Patient, world.patient.id).name == "Pat Example"


def test_list_searches_names_and_member_ids_shows_the_next_trip_and_reads_no_sheet(app, world, session):
    api = app.test_client()
    api.post("/api/v1/patients", json={"name": "Rosa Bianchi", "member_id": "MB-20417", "mobility": "wheelchair"},
             headers=world.bearer("dan"))
    api.post("/api/v1/patients", json={"name": "Olu Adeyemi", "member_id": "MB-99"}, headers=world.bearer("dan"))
    client, _ = _staff(app)
    reads_before = len(session.exec(select(AuditEvent).where(AuditEvent.action == "patient_read")).all())
    html = client.get("/patients?q=bianchi").get_data(as_text=True)
    assert "Rosa Bianchi" in html and "Olu Adeyemi" not in html and "Wheelchair" in html
    html = client.get("/patients?q=mb-99").get_data(as_text=True)
    assert "Olu Adeyemi" in html and "Rosa Bianchi" not in html
    html = client.get("/patients").get_data(as_text=True)
    row = re.search(rf'<tr data-patient-id="{world.patient.id}">.*?</tr>', html, re.S).group(0)
    assert f'href="/patients/{world.patient.id}"' in row and f'href="/dispatch/trips/{world.trip.id}"' in row
    assert 'href="/patients"' in html  # the nav link
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "patient_read")).all()) == reads_before


def test_sheet_lists_past_and_coming_trips_with_links_each_reader_may_open(app, world, session):
    done = world.make_trip(status="completed", now=utcnow() - timedelta(days=3))
    later = world.make_trip(status="scheduled", escort="emil", now=utcnow() + timedelta(days=2))
    url = f"/patients/{world.patient.id}"

    def trips(name: str) -> tuple[str, str]:
        client = app.test_client()
        login(client, name)
        html = client.get(url).get_data(as_text=True)
        return (re.search(r'id="trips-coming">(.*?)</ul>', html, re.S).group(1),
                re.search(r'id="trips-past">(.*?)</ul>', html, re.S).group(1))

    coming, past = trips("dan")
    assert f'href="/dispatch/trips/{world.trip.id}"' in coming and f'href="/dispatch/trips/{later.id}"' in coming
    assert coming.index(f"/dispatch/trips/{world.trip.id}\"") < coming.index(f"/dispatch/trips/{later.id}\"")
    assert f'href="/dispatch/trips/{done.id}"' in past
    coming, past = trips("cora")
    assert f'href="/trips/{later.id}"' in coming and f'href="/trips/{done.id}"' in past
    coming, past = trips("eve")  # her own trip under way; emil's and the finished one are not hers to see
    assert f'href="/trips/{world.trip.id}"' in coming
    assert f"/trips/{later.id}\"" not in coming and "No past trips." in past


def test_the_edit_link_is_for_those_who_may_edit(app, world):
    url = f"/patients/{world.patient.id}"
    for name, shown in (("dan", True), ("ada", True), ("cora", False), ("eve", False)):
        client = app.test_client()
        login(client, name)
        html = client.get(url).get_data(as_text=True)
        assert (f'href="/patients/{world.patient.id}/edit"' in html) == shown, name


def test_pages_that_name_the_patient_link_to_the_sheet(app, world):
    link = f'href="/patients/{world.patient.id}"'
    for name, urls in (("dan", [f"/dispatch/trips/{world.trip.id}", "/trips", f"/trips/{world.trip.id}",
                                f"/trips/{world.trip.id}/report"]),
                       ("cora", [f"/dispatch/trips/{world.trip.id}", "/trips", f"/trips/{world.trip.id}"]),
                       ("eve", ["/trips", f"/trips/{world.trip.id}"])):
        client = app.test_client()
        login(client, name)
        for url in urls:
            html = client.get(url).get_data(as_text=True)
            assert "Pat Example" in html and link in html, (name, url)
    client = app.test_client()
    login(client, "emil")  # may not see the patient: neither name nor link
    html = client.get("/trips").get_data(as_text=True)
    assert "Pat Example" not in html and link not in html
