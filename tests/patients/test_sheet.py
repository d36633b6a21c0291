"""The patient sheet: validation, who sees what and for how long, the audit trail, sealing at rest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from app.db import utcnow
from app.models import AuditEvent
from dispatch import trips as trips_mod
from dispatch import access
from patients.models import Patient
from tests.factories import login

FULL_SHEET = {
    "name": "Rosa Bianchi", "date_of_birth": "1938-04-02", "member_id": "MB-20417", "language": "Italian",
    "interpreter_needed": True, "home_address": "Flat 3, 12 Quillfeather Row, London",
    "mobility": "wheelchair", "assistance": "door_through_door", "stairs_count": 4,
    "equipment": [{"name": "oxygen", "oxygen_flow_lpm": 2}],
    "conditions": ["vascular dementia"], "allergies": ["penicillin"], "infection_control": "MRSA: contact precautions",
    "cognitive": {"orientation": "knows her name, not the date", "wandering_risk": "high", "fall_risk": "medium",
                  "guidance": "Speak slowly, in Italian if you can; never leave her alone at the door."},
    "advance_directive": {"dnr": True, "document_location": "in the red folder in her bag"},
    "contacts": [{"name": "Zebedee Quintrell", "phone": "+44 20 7946 0111", "relation": "son", "role": "emergency"},
                 {"name": "Dr Okafor", "phone": "+44 20 7946 0222", "role": "physician"}],
    "medications": [{"name": "Xylofenamate", "dose": "5 mg", "times": ["08:00", "20:00"]}],
    "escort_notes": "Likes to hold the door handle when getting out.",
    "dispatcher_notes": "Son disputes guardianship; never give him trip times.",
    "coordinator": "cora",
}


def _create(client, world, body=None) -> dict:
    resp = client.post("/api/v1/patients", json=body or FULL_SHEET, headers=world.bearer("dan"))
    assert resp.status_code == 201, resp.json
    return resp.json


def test_full_sheet_round_trips_with_next_dose(client, world):
    made = _create(client, world)
    got = client.get(f"/api/v1/patients/{made['id']}", headers=world.bearer("dan")).json
    for key in ("name", "date_of_birth", "member_id", "mobility", "assistance", "stairs_count", "allergies",
                "cognitive", "advance_directive", "escort_notes", "dispatcher_notes", "coordinator"):
        assert got[key] == FULL_SHEET[key], key
    assert got["equipment"] == [{"name": "oxygen", "oxygen_flow_lpm": 2.0}]
    assert [c["name"] for c in got["contacts"]] == ["Zebedee Quintrell", "Dr Okafor"]
    next_dose = got["medications"][0]["next_dose_at"]
    assert next_dose and next_dose.endswith(("T08:00:00Z", "T20:00:00Z")), next_dose
    assert got["view"] == "full"


@pytest.mark.parametrize(("change", "message"), [
    ({"contacts": [{"name": "A", "phone": "call me"}]}, "contacts.0.phone: must be a phone number"),
    ({"medications": [{"name": "X", "dose": "1"}]}, "give times of day or every_hours"),
    ({"medications": [{"name": "X", "dose": "1", "times": ["25:00"]}]}, "is not a time of day"),
    ({"date_of_birth": "2999-01-01"}, "date_of_birth: must not be in the future"),
    ({"date_of_birth": "02/04/1938"}, "date_of_birth"),
    ({"mobility": "hovercraft"}, "mobility"),
    ({"advance_directive": {"dnr": True}}, "a DNR needs document_location"),
    ({"equipment": [{"name": "oxygen", "oxygen_flow_lpm": -1}]}, "oxygen_flow_lpm"),
    ({"coordinator": "dan"}, "no care coordinator called 'dan'"),
    ({"favourite_colour": "blue"}, "favourite_colour"),
])
def test_bad_sheets_get_clear_messages_and_store_nothing(client, world, session, change, message):
    before = len(session.exec(select(Patient)).all())
    resp = client.post("/api/v1/patients", json={**FULL_SHEET, **change}, headers=world.bearer("dan"))
    assert resp.status_code == 400 and message in resp.json["error"], resp.json
    session.expire_all()
    assert len(session.exec(select(Patient)).all()) == before


def test_patch_changes_only_what_it_names_and_is_audited(client, world, session):
    made = _create(client, world)
    resp = client.patch(f"/api/v1/patients/{made['id']}", json={"allergies": ["latex"], "escort_notes": None},
                        headers=world.bearer("dan"))
    assert resp.status_code == 200, resp.json
    assert resp.json["allergies"] == ["latex"] and "escort_notes" not in resp.json
    assert resp.json["contacts"] == made["contacts"] and resp.json["cognitive"] == FULL_SHEET["cognitive"]
    assert client.patch(f"/api/v1/patients/{made['id']}", json={"name": None},
                        headers=world.bearer("dan")).status_code == 400
    assert client.patch(f"/api/v1/patients/{made['id']}", json={"allergies": ["x"]},
                        headers=world.bearer("eve")).status_code == 403
    [change] = session.exec(select(AuditEvent).where(AuditEvent.action == "patient_update")).all()
    assert change.username == "dan" and change.detail["fields"] == ["allergies", "escort_notes"]


def _trip_for(world, patient_id: int, *, escort="eve", status="assigned"):
    world.patient = world.session.get(Patient, patient_id)
    return world.make_trip(status=status, escort=escort, device=None)


def test_escort_sees_own_patient_from_assignment_until_shortly_after(client, world, session):
    made = _create(client, world)
    url = f"/api/v1/patients/{made['id']}"
    assert client.get(url, headers=world.bearer("eve")).status_code == 403, "no trip with this patient yet"

    trip = _trip_for(world, made["id"])
    escort_view = client.get(url, headers=world.bearer("eve"))
    assert escort_view.status_code == 200 and escort_view.json["view"] == "escort"
    assert "dispatcher_notes" not in escort_view.json, "dispatcher-only notes stay with dispatch"
    assert escort_view.json["cognitive"]["guidance"] == FULL_SHEET["cognitive"]["guidance"]
    other = client.get(url, headers=world.bearer("emil"))
    assert other.status_code == 403 and other.json["error"].startswith("not your patient")
    assert "Rosa" not in other.get_data(as_text=True), "a refusal leaks nothing"

    for step in ("en_route_pickup", "arrived_pickup", "on_board", "arrived_dropoff", "completed"):
        trips_mod.change_status(session, trip, step, world.users["dispatcher"], now=utcnow())
    session.commit()
    assert client.get(url, headers=world.bearer("eve")).status_code == 200, "still readable just after the end"

    trip.ended_at = trip.updated_at = utcnow() - access.ESCORT_SHEET_GRACE - timedelta(minutes=1)
    session.add(trip)
    session.commit()
    assert client.get(url, headers=world.bearer("eve")).status_code == 403, "closed after the grace period"


def test_coordinator_reads_own_caseload_only(client, world):
    mine = _create(client, world)
    theirs = _create(client, world, {**FULL_SHEET, "coordinator": None, "name": "Other Person"})
    got = client.get(f"/api/v1/patients/{mine['id']}", headers=world.bearer("cora"))
    assert got.status_code == 200 and got.json["view"] == "review" and "dispatcher_notes" not in got.json
    assert client.get(f"/api/v1/patients/{theirs['id']}", headers=world.bearer("cora")).status_code == 403
    assert client.patch(f"/api/v1/patients/{mine['id']}", json={"allergies": []},
                        headers=world.bearer("cora")).status_code == 403, "read-only"
    assert client.get("/api/v1/patients", headers=world.bearer("cora")).status_code == 403


def test_every_read_is_one_audit_line_with_who_and_where(client, world, session):
    made = _create(client, world)
    _trip_for(world, made["id"])
    for name in ("dan", "dan", "eve", "emil", "cora"):
        client.get(f"/api/v1/patients/{made['id']}", headers=world.bearer(name),
                   environ_base={"REMOTE_ADDR": "10.1.2.3"})
    reads = session.exec(select(AuditEvent).where(AuditEvent.object_id == made["id"],
                                                  AuditEvent.object_type == "patient")
                         .order_by(AuditEvent.id)).all()
    assert [(e.username, e.action) for e in reads] == [
        ("dan", "patient_create"), ("dan", "patient_read"), ("dan", "patient_read"), ("eve", "patient_read"),
        ("emil", "patient_read_denied"), ("cora", "patient_read")]
    assert all(e.remote_addr == "10.1.2.3" for e in reads[1:])
    assert reads[3].detail == {"view": "escort"}


def test_audit_api_searches_and_only_admins_may(client, world):
    made = _create(client, world)
    client.get(f"/api/v1/patients/{made['id']}", headers=world.bearer("dan"))
    client.get(f"/api/v1/patients/{made['id']}", headers=world.bearer("emil"))
    resp = client.get(f"/api/v1/audit?patient_id={made['id']}&user=emil", headers=world.bearer("ada"))
    assert resp.status_code == 200
    assert [(e["user"], e["action"]) for e in resp.json["events"]] == [("emil", "patient_read_denied")]
    page = client.get(f"/api/v1/audit?patient_id={made['id']}&limit=1", headers=world.bearer("ada")).json
    older = client.get(f"/api/v1/audit?patient_id={made['id']}&limit=5&before_id={page['next_before_id']}",
                       headers=world.bearer("ada")).json
    assert len(page["events"]) == 1 and older["events"][0]["id"] < page["events"][0]["id"]
    assert [e["action"] for e in older["events"]] == ["patient_read", "patient_create"]
    for name in ("dan", "eve", "cora"):
        assert client.get("/api/v1/audit", headers=world.bearer(name)).status_code == 403
    bad = client.get("/api/v1/audit?since=yesterday", headers=world.bearer("ada"))
    assert bad.status_code == 400 and "since must be an ISO-8601 time" in bad.json["error"]
    assert client.get("/api/v1/audit?limit=0", headers=world.bearer("ada")).status_code == 400


def test_logins_and_logouts_are_audited_and_the_admin_page_shows_them(client, world, session):
    login(client, "ada")
    page = client.get("/admin/audit?action=login")
    assert page.status_code == 200 and "ada" in page.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": _csrf(client)})
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.username == "ada")).all()]
    assert actions == ["login", "logout"]


def _csrf(client) -> str:
    import re

    html = client.get("/admin/audit").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_audit_log_is_append_only_in_the_database(client, world, session):
    _create(client, world)
    from sqlalchemy.exc import DBAPIError

    for statement in ("UPDATE audit_event SET username = 'mallory'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
    assert session.execute(text("SELECT count(*) FROM audit_event")).scalar_one() >= 1


def test_sensitive_fields_are_sealed_in_the_database(client, world, session, app):
    made = _create(client, world)
    raw = session.execute(text("SELECT contacts, medications, details, name FROM patient WHERE id = :id"),
                          {"id": made["id"]}).one()
    assert raw.name == "Rosa Bianchi", "the name is in the clear for lists"
    for column in raw[:3]:
        assert column.startswith("fernet:")
    blob = " ".join(raw[:3])
    for secret in ("Xylofenamate", "Zebedee", "7946 0111", "penicillin", "Quillfeather", "guardianship"):
        assert secret not in blob
    engine = app.extensions["escort"].engine
    if engine.dialect.name == "sqlite":
        session.close()
        engine.dispose()  # checkpoints the WAL into the file
        path = engine.url.database
        data = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
        assert b"Rosa Bianchi" in data, "the file really is the database we wrote"
        for secret in (b"Xylofenamate", b"Zebedee", b"7946 0111", b"penicillin", b"Quillfeather"):
            assert secret not in data


def test_key_rotation_reseals_with_the_new_key(tmp_path):
    from app import crypto

    old, new = crypto.generate_key(), crypto.generate_key()
    sealed = crypto.Keyring([old]).seal({"allergies": ["penicillin"]})
    both = crypto.Keyring([new, old])
    assert both.open(sealed) == {"allergies": ["penicillin"]} and not both.is_primary(sealed)
    resealed = both.reseal(sealed)
    assert both.is_primary(resealed)
    assert crypto.Keyring([new]).open(resealed) == {"allergies": ["penicillin"]}
    with pytest.raises(crypto.KeyError_, match="does not open"):
        crypto.Keyring([new]).open(sealed)
    with pytest.raises(crypto.KeyError_, match="Fernet keys"):
        crypto.Keyring(["not-a-key"])
    made = crypto.keyring_for(None, tmp_path)
    assert (tmp_path / "data_keys").stat().st_mode & 0o777 == 0o600
    assert crypto.keyring_for(None, tmp_path).open(made.seal([1])) == [1], "the instance key is made once"


def test_patient_search_matches_parts_of_names_and_member_ids_literally(client, world):
    _create(client, world)
    _create(client, world, {**FULL_SHEET, "name": "Ann 100% Sure", "member_id": "MB_7"})

    def names(q):
        resp = client.get("/api/v1/patients", query_string={"q": q}, headers=world.bearer("dan"))
        assert resp.status_code == 200
        return sorted(p["name"] for p in resp.json)
    assert names("rosa") == ["Rosa Bianchi"]
    assert names("MB-204") == ["Rosa Bianchi"]
    assert names("100%") == ["Ann 100% Sure"] and names("%") == ["Ann 100% Sure"], "% is a character, not a wildcard"
    assert names("MB_") == ["Ann 100% Sure"], "_ is a character too"
    assert names("") == ["Ann 100% Sure", "Pat Example", "Rosa Bianchi"]
    bad = client.get("/api/v1/patients?q=%00", headers=world.bearer("dan"))
    assert bad.status_code == 400 and "NUL" in bad.json["error"]
    assert "contacts" not in client.get("/api/v1/patients", headers=world.bearer("dan")).json[0], "a list, not sheets"
