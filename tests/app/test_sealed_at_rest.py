"""Sealed means sealed: a whole workflow leaves no medication, contact or emergency contact in clear on disk or in the log."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session, select

from app import create_app
from app.db import upgrade, utcnow
from dispatch import alerts as alerts_mod
from dispatch import scheduler
from dispatch.models import Alert, TripEvent
from dispatch.notify import Channels
from tests.conftest import make_config
from tests.dispatch.test_safety import smtp_server  # noqa: F401  (a real SMTP server, as a fixture)
from tests.factories import World, fix_payload, login

MEDICATION, DOSE = "Quetiaprozine", "12.5 mg Zx-drops"
OTHER_MEDICATION, OTHER_DOSE = "Warfaxabanol", "3 mg Yq-tablet"
CONTACT_NAME, CONTACT_PHONE = "Brunhilde Okonkwo", "+44 7700 900123"
ALLERGY = "Penicillamine-Xr"
ESCORT_CONTACT = ("Ottoline Vasquez-Pruitt", "ottoline.vp@example.test", "+44 7700 900456")
SECRETS = (MEDICATION, DOSE, OTHER_MEDICATION, OTHER_DOSE, CONTACT_NAME, CONTACT_PHONE, ALLERGY, *ESCORT_CONTACT)


def _found(blob: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in blob or s.encode("utf-16-le") in blob]


def test_a_whole_workflow_leaves_nothing_sensitive_in_clear(tmp_path, caplog, smtp_server):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    smtp_url, mails = smtp_server
    db_path = tmp_path / "sealed.db"
    app = create_app(make_config(tmp_path, database_url=f"sqlite:///{db_path}"))
    engine = app.extensions["escort"].engine
    upgrade(engine)
    session = Session(engine, expire_on_commit=False)
    world = World.build(app, session, trip_status="completed")
    eve = world.users["escort"]
    eve.emergency_contact_name, eve.emergency_contact_email, eve.emergency_contact_phone = ESCORT_CONTACT
    session.add(eve)
    session.commit()
    client = app.test_client()
    dan = world.bearer("dan")

    now = utcnow().replace(second=0, microsecond=0)
    dose_at = now + timedelta(minutes=10)
    patient = client.post("/api/v1/patients", headers=dan, json={
        "name": "Sealed Sheet", "allergies": [ALLERGY],
        "medications": [{"name": MEDICATION, "dose": DOSE, "times": [dose_at.strftime("%H:%M")]},
                        {"name": OTHER_MEDICATION, "dose": OTHER_DOSE, "every_hours": 6,
                         "last_dose_at": (dose_at - timedelta(hours=6)).isoformat()}],
        "contacts": [{"name": CONTACT_NAME, "phone": CONTACT_PHONE, "relation": "daughter"}]})
    assert patient.status_code == 201, patient.json
    trip = client.post("/api/v1/trips", headers=dan, json={
        "patient_id": patient.json["id"], "escort": "eve", "device_id": world.device.id,
        "pickup": {"lat": 51.5007, "lon": -0.1246}, "dropoff": {"lat": 51.5022, "lon": -0.1050},
        "scheduled_pickup_at": now.isoformat(), "appointment_at": (now + timedelta(hours=1)).isoformat()})
    assert trip.status_code == 201, trip.json
    assert {w.get("medication") for w in trip.json["warnings"]} == {MEDICATION, OTHER_MEDICATION}
    trip_id = trip.json["id"]
    for status in ("en_route_pickup", "arrived_pickup", "on_board"):
        assert client.post(f"/api/v1/trips/{trip_id}/status", headers=dan, json={"status": status}).status_code == 200
    bearer = {"Authorization": f"Bearer {world.device_token}"}
    assert client.post("/api/v1/fixes", headers=bearer, json=[fix_payload(1), fix_payload(2, lat=51.5009)]).status_code == 200

    channels = Channels(smtp_url=smtp_url, supervisor_email="boss@dispatch.test")
    for minutes in (10.1, 26, 28.5, 31, 33.5, 36):  # the dose, its grace, then three escalation steps
        scheduler.sweep(session, now=dose_at + timedelta(minutes=minutes - 10), channels=channels)
    session.expire_all()
    [due] = session.exec(select(Alert).where(Alert.kind == "medication_due", Alert.trip_id == trip_id)).all()
    assert due.escalation_level == 3
    assert [m.rcpt_tos for m in mails if b"medication due" in m.content][-1] == [ESCORT_CONTACT[1]]

    # Those allowed still read it all.
    shown = client.get(f"/api/v1/alerts?trip_id={trip_id}", headers=dan).json
    [due_shown] = [a for a in shown if a["kind"] == "medication_due"]
    assert due_shown["detail"]["medication"] in (MEDICATION, OTHER_MEDICATION) and due_shown["detail"]["dose"]
    timeline = client.get(f"/api/v1/trips/{trip_id}/timeline", headers=dan).get_data(as_text=True)
    assert MEDICATION in timeline and OTHER_MEDICATION in timeline
    notes = [alerts_mod.opened(e.detail) for e in session.exec(select(TripEvent).where(
        TripEvent.trip_id == trip_id, TripEvent.kind == "notification")).all()]
    assert ESCORT_CONTACT[1] in [a["target"] for n in notes for a in n["attempts"]]
    sheet = client.get(f"/api/v1/patients/{patient.json['id']}", headers=dan).json
    assert sheet["contacts"][0]["phone"] == CONTACT_PHONE

    # Everything a reviewer exports or reads.
    for path in ("track.gpx", "track.csv", "track.geojson", "replay", "figures", "timeline"):
        assert client.get(f"/api/v1/trips/{trip_id}/{path}", headers=dan).status_code == 200, path
    day = now.date().isoformat()
    for path in (f"/api/v1/trips.csv?from={day}&to={day}", f"/api/v1/trips/figures?from={day}&to={day}",
                 f"/api/v1/trips?from={day}&to={day}", "/api/v1/audit"):
        assert client.get(path, headers=world.bearer("ada") if "audit" in path else dan).status_code == 200, path
    web = login(app.test_client(), "dan")
    for page in (f"/trips/{trip_id}", "/trips", "/dispatch"):
        assert web.get(page).status_code == 200, page

    with engine.connect() as conn:  # the rows themselves: sealed, not merely absent from the file
        raw = conn.execute(text("SELECT emergency_contact_email FROM user WHERE username = 'eve'")).scalar()
    assert raw.startswith("fernet:")
    files = [db_path, db_path.with_name("sealed.db-wal"), db_path.with_name("sealed.db-shm")]
    on_disk = {p.name: _found(p.read_bytes()) for p in files if p.exists()}
    assert db_path.with_name("sealed.db-wal").exists(), "the WAL is searched while it still holds the writes"
    session.close()
    engine.dispose()
    on_disk["after checkpoint"] = _found(db_path.read_bytes())
    assert on_disk == {name: [] for name in on_disk}
    # The test's SMTP server (aiosmtpd, logger "mail.log") is the recipient's side: it may log its mail.
    leaks = [(r.name, r.getMessage()[:200]) for r in caplog.records
             if r.name != "mail.log" and _found(r.getMessage().encode())]
    assert leaks == []


def test_migration_0013_seals_existing_contacts_and_details(tmp_path):
    """A database at 0011 keeps its escorts' contacts and medication events, now sealed; fixes get mock = false."""
    import json
    import os

    from alembic import command

    from app.db import alembic_config, make_engine
    from app.models import User
    from app import crypto
    from tests.conftest import _reset_postgres

    url = os.environ.get("ESCORT_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    _reset_postgres(engine)
    cfg = alembic_config(url)
    crypto.install(crypto.keyring_for(None, tmp_path))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO \"user\" (username, role, emergency_contact_name, emergency_contact_email, "
                          "emergency_contact_phone, is_active, failed_logins, created_at) VALUES "
                          "('eve', 'escort', :n, :e, :p, true, 0, CURRENT_TIMESTAMP)"),
                     dict(zip("nep", ESCORT_CONTACT)))
        conn.execute(text("INSERT INTO patient (name, contacts, medications, details, interpreter_needed, mobility, "
                          "assistance, created_at) VALUES ('P', 'x', 'x', 'x', false, 'ambulatory', 'door_to_door', "
                          "CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO trip (patient_id, status, pickup_lat, pickup_lon, pickup_radius_m, dropoff_lat, "
                          "dropoff_lon, dropoff_radius_m, route, allowed_stops, settings, scheduled_pickup_at, "
                          "created_at, updated_at) VALUES (1, 'on_board', 0, 0, 50, 0, 0, 50, '[]', '[]', '{}', "
                          "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        warning = {"medication": MEDICATION, "dose": DOSE, "due_at": "2026-11-30T10:00:00Z"}
        conn.execute(text("INSERT INTO trip_event (trip_id, at, kind, detail) VALUES (1, CURRENT_TIMESTAMP, "
                          "'medication_warning', :d), (1, CURRENT_TIMESTAMP, 'status', :s)"),
                     {"d": json.dumps(warning), "s": json.dumps({"from": "a", "to": "on_board"})})
        conn.execute(text("INSERT INTO alert (trip_id, kind, raised_at, updated_at, escalation_level, detail) VALUES "
                          "(1, 'medication_due', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0, :d)"), {"d": json.dumps(warning)})
    upgrade(engine)
    with engine.connect() as conn:
        blob = " ".join(str(v) for row in conn.execute(text(
            "SELECT emergency_contact_name, emergency_contact_email, emergency_contact_phone FROM \"user\"")) for v in row)
        blob += " ".join(str(r[0]) for r in conn.execute(text("SELECT detail FROM trip_event")))
        blob += " ".join(str(r[0]) for r in conn.execute(text("SELECT detail FROM alert")))
    assert _found(blob.encode()) == [] and "on_board" in blob, "a status event's 'to' stays readable in SQL"
    with Session(engine) as session:
        eve = session.exec(select(User)).one()
        assert (eve.emergency_contact_name, eve.emergency_contact_email, eve.emergency_contact_phone) == ESCORT_CONTACT
        alert = session.exec(select(Alert)).one()
        assert alerts_mod.opened(alert.detail) == warning
    engine.dispose()
