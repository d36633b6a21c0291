"""The trip log through the app: list filters and keyset paging, who sees what, timeline, notes, figures, pages."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.models import AuditEvent
from dispatch import trips as trips_mod
from dispatch.models import TripEvent
from patients.models import Patient
from tests.dispatch.triplog_world import T0, finished_trip
from tests.factories import login


def ids(resp) -> list[int]:
    """Return the trip ids of a list answer."""
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [t["id"] for t in resp.get_json()["trips"]]


def make_trips(world, session, n: int, *, start=T0, every=timedelta(hours=1), **kw) -> list:
    """Create n scheduled trips, one every ``every`` from ``start``."""
    made = []
    for i in range(n):
        trip = world.make_trip(status="assigned", now=start + i * every, **kw)
        made.append(trip)
    return made


def other_patient(session, name="Someone Else", coordinator=None) -> Patient:
    """Add a patient (outside cora's caseload unless told)."""
    p = Patient(name=name, coordinator_user_id=coordinator, created_at=T0)
    session.add(p)
    session.commit()
    return p


def test_each_role_lists_only_the_trips_it_may_see(client, world, session):
    earlier = other_patient(session, "Earlier Patient", coordinator=world.users["coordinator"].id)
    mine, _ = finished_trip(world, session, patient=earlier)
    stranger = other_patient(session)
    theirs, _ = finished_trip(world, session, patient=stranger, escort="emil", t0=T0 + timedelta(hours=2))
    everyone = {world.trip.id, mine.id, theirs.id}
    assert set(ids(client.get("/api/v1/trips", headers=world.bearer("dan")))) == everyone
    assert set(ids(client.get("/api/v1/trips", headers=world.bearer("ada")))) == everyone
    assert set(ids(client.get("/api/v1/trips", headers=world.bearer("cora")))) == {world.trip.id, mine.id}
    # An escort sees their own trips while their access to the patient is open (dispatch.access):
    # the ones that ended days ago are gone from their list, because a track shows a home address.
    assert set(ids(client.get("/api/v1/trips", headers=world.bearer("emil")))) == set()
    rows = {t["id"]: t for t in client.get("/api/v1/trips", headers=world.bearer("eve")).get_json()["trips"]}
    assert set(rows) == {world.trip.id}
    assert rows[world.trip.id]["patient_name"] == "Pat Example"
    assert client.get("/api/v1/trips").status_code == 401


def test_filters(client, world, session):
    done, _ = finished_trip(world, session)
    stranger = other_patient(session)
    emil_trip, _ = finished_trip(world, session, patient=stranger, escort="emil", t0=T0 + timedelta(days=1))
    h = world.bearer("dan")
    assert ids(client.get("/api/v1/trips?status=completed", headers=h)) == [emil_trip.id, done.id]
    assert ids(client.get("/api/v1/trips?escort=emil", headers=h)) == [emil_trip.id]
    assert ids(client.get("/api/v1/trips?escort=nobody", headers=h)) == []
    assert ids(client.get(f"/api/v1/trips?patient_id={stranger.id}", headers=h)) == [emil_trip.id]
    assert ids(client.get("/api/v1/trips?from=2026-11-20&to=2026-11-20", headers=h)) == [done.id]
    assert ids(client.get("/api/v1/trips?from=2026-11-21&to=2026-11-21", headers=h)) == [emil_trip.id]
    assert ids(client.get("/api/v1/trips?had_alerts=1", headers=h)) == [emil_trip.id, done.id]
    assert ids(client.get("/api/v1/trips?had_alerts=0", headers=h)) == [world.trip.id]
    assert ids(client.get("/api/v1/trips?had_alerts=1&escort=eve&status=completed", headers=h)) == [done.id]


def test_bad_filters_are_400_with_a_reason(client, world):
    h = world.bearer("dan")
    for query, message in (
        ("status=flying", "status must be one of"), ("patient_id=abc", "patient_id must be a whole number"),
        ("patient_id=99999999999", "patient_id must be a whole number"), ("from=2026-13-01", "from must be a date"),
        ("from=0001-01-01", "between the years"), ("had_alerts=maybe", "had_alerts must be 1 or 0"),
        ("after=not-a-cursor", "after is not a cursor"), ("limit=0", "limit must be"), ("limit=x", "limit must be"),
        ("from=2026-11-02&to=2026-11-01", "to must not be before from"),
    ):
        resp = client.get(f"/api/v1/trips?{query}", headers=h)
        assert resp.status_code == 400 and message in resp.get_json()["error"], (query, resp.get_json())


def test_keyset_paging_visits_every_trip_once_in_order_even_with_ties(client, world, session):
    made = make_trips(world, session, 5) + make_trips(world, session, 4, every=timedelta(0))  # 4 at the same time
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/trips?limit=3" + (f"&after={cursor}" if cursor else "")
        body = client.get(url, headers=world.bearer("dan")).get_json()
        seen += [(t["scheduled_pickup_at"], t["id"]) for t in body["trips"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(made) + 1  # and world.trip
    assert seen == sorted(seen, reverse=True)
    assert pages == 4
    # A trip added to the top meanwhile does not shift the next page (unlike OFFSET paging).
    first = client.get("/api/v1/trips?limit=3", headers=world.bearer("dan")).get_json()
    make_trips(world, session, 1, start=T0 + timedelta(days=30))
    again = client.get(f"/api/v1/trips?limit=3&after={first['next']}", headers=world.bearer("dan")).get_json()
    assert [t["id"] for t in again["trips"]] == [i for _s, i in seen[3:6]]


def test_timeline_in_time_order_with_who_and_where(client, world, session):
    trip, points = finished_trip(world, session)
    resp = client.get(f"/api/v1/trips/{trip.id}/timeline", headers=world.bearer("cora"))
    items = resp.get_json()["timeline"]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    kinds = [i["kind"] for i in items]
    assert kinds == ["created", "status", "status", "checkin", "status", "alert_raised", "alert_acknowledged",
                     "alert_resolved", "status", "status"]
    texts = [i["text"] for i in items]
    assert "Status arrived pickup → on board by dan" in texts
    assert "Check-in by eve" in texts
    assert "Alert raised: deviation (160 m off route)" in texts
    assert "Alert acknowledged: deviation by dan" in texts
    assert "Alert resolved: deviation as precautionary by dan: roadworks" in texts
    on_board = items[kinds.index("status", 3)]
    # No position was sent with the status change: it is placed at the last fix before it.
    assert on_board["position"] == "track" and (on_board["lat"], on_board["lon"]) == (points[0][1], points[0][2])
    assert items[1]["position"] is None  # en route, long before the first fix


def test_notes_go_in_the_timeline(client, world, session):
    trip, _ = finished_trip(world, session)
    resp = client.post(f"/api/v1/trips/{trip.id}/notes", json={"text": "  Family asked for the log.  "},
                       headers=world.bearer("cora"))
    assert resp.status_code == 201
    assert resp.get_json()["text"] == "Note by cora: Family asked for the log." and resp.get_json()["group"] == "note"
    items = client.get(f"/api/v1/trips/{trip.id}/timeline", headers=world.bearer("dan")).get_json()["timeline"]
    assert items[-1]["kind"] == "note" and items[-1]["by"] == "cora"
    session.expire_all()
    note = session.exec(select(TripEvent).where(TripEvent.kind == "note")).one()
    assert note.detail == {"text": "Family asked for the log.", "by": "cora"} and note.user_id == world.users["coordinator"].id
    for body, message in (({"text": ""}, "write the note"), ({"text": "x" * 2001}, "at most 2000"),
                          ({"text": 5}, "write the note"), ([1], "JSON object")):
        bad = client.post(f"/api/v1/trips/{trip.id}/notes", json=body, headers=world.bearer("dan"))
        assert bad.status_code == 400 and message in bad.get_json()["error"]
    assert client.post(f"/api/v1/trips/{trip.id}/notes", data="{", headers=world.bearer("dan")).status_code == 400
    assert client.post(f"/api/v1/trips/{trip.id}/notes", json={"text": "hi"},
                       headers=world.bearer("eve")).status_code == 403
    stranger_trip, _ = finished_trip(world, session, patient=other_patient(session), t0=T0 + timedelta(hours=1))
    assert client.post(f"/api/v1/trips/{stranger_trip.id}/notes", json={"text": "hi"},
                       headers=world.bearer("cora")).get_json() == {"error": f"no trip with id {stranger_trip.id}"}


def test_a_note_from_the_page_needs_the_csrf_token(client, world, session):
    trip, _ = finished_trip(world, session)
    login(client, "cora")
    assert client.post(f"/api/v1/trips/{trip.id}/notes", json={"text": "no token"}).status_code == 400
    html = client.get(f"/trips/{trip.id}").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    ok = client.post(f"/api/v1/trips/{trip.id}/notes", json={"text": "with token"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 201


def test_replay_and_figures_of_a_trip(client, world, session):
    trip, points = finished_trip(world, session)
    body = client.get(f"/api/v1/trips/{trip.id}/replay", headers=world.bearer("cora")).get_json()
    assert len(body["track"]) == len(points)
    assert body["track"][0][:3] == [points[0][1], points[0][2], points[0][0].timestamp()]
    assert len(body["off_route"]) == 1 and len(body["stops"]) == 1
    (off,) = body["off_route"]
    assert off["max_distance_m"] > 150 and off["duration_s"] == 20.0
    (stop,) = body["stops"]
    assert stop["duration_s"] == 225.0  # the arriving fix and 45 more, 5 s apart and (stop["lat"], stop["lon"]) == (51.5014, -0.1150)
    assert body["trip"]["patient_name"] == "Pat Example" and body["trip"]["pickup"]["radius_m"] == 60
    f = client.get(f"/api/v1/trips/{trip.id}/figures", headers=world.bearer("dan")).get_json()
    assert f == body["figures"]
    assert f["pickup_late_s"] == 300.0 and f["pickup_on_time"] is True and f["arrival_on_time"] is True
    assert f["alert_count"] == 1 and f["mean_ack_s"] == 40.0 and f["stop_count"] == 1 and f["off_route_s"] == 20.0
    assert f["planned_distance_m"] < f["driven_distance_m"]  # the detour


def test_period_figures_for_reviewers_only(client, world, session):
    finished_trip(world, session)  # pickup 5 min after the schedule, arrival 3 min before the appointment
    late_patient = other_patient(session, coordinator=world.users["coordinator"].id)
    t1 = T0 + timedelta(days=1)
    late, _ = finished_trip(world, session, patient=late_patient, t0=t1)
    # Scheduled 16 min before the arrival at pickup (late), appointment before the drop-off (late).
    late.scheduled_pickup_at, late.appointment_at = t1 - timedelta(minutes=16), t1 + timedelta(minutes=5)
    session.add(late)
    session.commit()
    body = client.get("/api/v1/trips/figures?from=2026-11-20&to=2026-11-21", headers=world.bearer("cora")).get_json()
    assert body["figures"]["trip_count"] == 2
    assert body["figures"]["on_time_pickup_rate"] == 0.5 and body["figures"]["on_time_arrival_rate"] == 0.5
    assert body["figures"]["alerts_per_100_trips"] == 100.0 and body["figures"]["median_ack_s"] == 40.0
    assert [(d["day"], d["on_time_pickup_rate"]) for d in body["by_day"]] == [("2026-11-20", 1.0), ("2026-11-21", 0.0)]
    assert client.get("/api/v1/trips/figures?from=2026-11-20&to=2026-11-21",
                      headers=world.bearer("eve")).status_code == 403
    assert client.get("/api/v1/trips/figures?from=2025-01-01&to=2026-11-21",
                      headers=world.bearer("dan")).get_json() == {"error": "a period is at most 366 days"}


def _cursor_after(trip) -> str:
    """Return the list cursor that starts after ``trip``."""
    from dispatch.triplog import encode_cursor

    return encode_cursor(trip.scheduled_pickup_at, trip.id)


def test_pages(client, world, session):
    trip, _ = finished_trip(world, session)
    stranger_trip, _ = finished_trip(world, session, patient=other_patient(session), t0=T0 + timedelta(hours=1))
    assert client.get("/trips").status_code == 302  # to the login page
    login(client, "cora")
    page = client.get("/trips?from=2026-11-20&to=2026-11-20").get_data(as_text=True)
    assert f'data-trip-id="{trip.id}"' in page and f'data-trip-id="{stranger_trip.id}"' not in page
    assert 'class="period-chart"' in page and 'id="period-csv"' in page
    later = client.get(f"/trips?from=2026-11-20&to=2026-11-20&after={_cursor_after(trip)}").get_data(as_text=True)
    assert 'id="first-page"' in later and 'class="period-chart"' not in later  # figures head the first page only
    assert client.get(f"/trips/{stranger_trip.id}").status_code == 404
    log = client.get(f"/trips/{trip.id}").get_data(as_text=True)
    assert 'id="replay-map"' in log and 'id="note-form"' in log
    report = client.get(f"/trips/{trip.id}/report")
    assert report.status_code == 200 and "roadworks" in report.get_data(as_text=True)
    assert client.get("/trips?status=flying").status_code == 200  # the page shows the error
    assert "status must be one of" in client.get("/trips?status=flying").get_data(as_text=True)
    session.expire_all()
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(a.username, a.object_id, a.detail["format"]) for a in audit] == [("cora", trip.id, "report")]


def test_escorts_see_their_own_logs_but_no_period_figures(client, world, session):
    from app.db import utcnow

    old, _ = finished_trip(world, session, patient=other_patient(session, "Earlier Patient"))
    recent, _ = finished_trip(world, session, patient=other_patient(session, "Recent Patient"),
                              t0=utcnow() - timedelta(minutes=40))
    login(client, "eve")
    page = client.get("/trips").get_data(as_text=True)
    assert f'data-trip-id="{recent.id}"' in page and 'id="period"' not in page and "period-csv" not in page
    assert f'data-trip-id="{old.id}"' not in page, "ended days ago: closed to her"
    log = client.get(f"/trips/{recent.id}").get_data(as_text=True)
    assert 'id="replay-map"' in log and 'id="note-form"' not in log
    assert client.get(f"/trips/{old.id}").status_code == 404


def test_medication_details_only_where_the_patient_is_shown(client, world, session):
    trip, _ = finished_trip(world, session, patient=other_patient(session, "Earlier Patient"))
    session.add(TripEvent(trip_id=trip.id, at=T0 + timedelta(seconds=90), kind="medication_warning",
                          detail={"medication": "Warfarin", "dose": "5 mg"}))
    session.commit()
    dan = client.get(f"/api/v1/trips/{trip.id}/timeline", headers=world.bearer("dan")).get_json()["timeline"]
    eve = client.get(f"/api/v1/trips/{trip.id}/timeline", headers=world.bearer("eve"))
    assert "Medication warning: Warfarin" in [i["text"] for i in dan]
    assert eve.status_code == 404 and "Warfarin" not in eve.get_data(as_text=True), "her access ended with the trip"


def test_status_change_with_a_recorded_position_keeps_it(client, world, session):
    trip = world.make_trip(status="assigned", now=T0)
    trips_mod.change_status(session, trip, "en_route_pickup", world.users["dispatcher"], now=T0, lat=51.6, lon=-0.2)
    session.commit()
    items = client.get(f"/api/v1/trips/{trip.id}/timeline", headers=world.bearer("dan")).get_json()["timeline"]
    assert (items[-1]["lat"], items[-1]["lon"], items[-1]["position"]) == (51.6, -0.2, "recorded")


def test_every_kind_of_event_reads_as_a_line():
    from dispatch.triplog import describe

    attempts = [{"channel": "webhook", "target": "https://hooks.example/x", "ok": True, "error": None},
                {"channel": "email", "target": "sup@example.org", "ok": False, "error": "no SMTP server configured"}]
    assert describe("notification", {"level": 2, "to": "supervisor", "kind": "missed_checkin", "attempts": attempts},
                    None, show_patient=True) == (
        "notification", ("Escalation step 2 (supervisor) for missed checkin: 1 of 2 notices delivered "
                         "(email to sup@example.org failed: no SMTP server configured)"))
    assert describe("alert_cleared", {"kind": "stop"}, None, show_patient=True) == \
        ("alert", "Alert cleared on its own: stop")
    assert describe("arrived_dropoff", {}, None, show_patient=True) == ("place", "Entered the drop-off area")
    assert describe("medication_reminder", {"medication": "Insulin"}, None, show_patient=False) == \
        ("medication", "Medication reminder")
    assert describe("something_new", {}, None, show_patient=True) == ("other", "Something new")


def test_a_failed_notice_names_its_target_to_staff_but_not_to_the_escort(client, world, session):
    from app.db import utcnow
    from dispatch import alerts
    from dispatch.models import Alert

    trip, _ = finished_trip(world, session, t0=utcnow() - timedelta(minutes=40))
    [deviation] = session.exec(select(Alert).where(Alert.trip_id == trip.id)).all()
    attempts = [{"channel": "sms", "target": "+358401234567", "ok": True, "error": None},
                {"channel": "email", "target": "sup@example.org", "ok": False, "error": "550 no such user sup@example.org"}]
    session.add(TripEvent(trip_id=trip.id, at=deviation.raised_at + timedelta(seconds=60), kind="notification",
                          detail=alerts.sealed({"alert_id": deviation.id, "kind": "deviation", "level": 2,
                                                "to": "supervisor", "attempts": attempts})))
    session.commit()

    def line(name: str) -> str:
        items = client.get(f"/api/v1/trips/{trip.id}/timeline", headers=world.bearer(name)).get_json()["timeline"]
        [text] = [i["text"] for i in items if i["kind"] == "notification"]
        return text

    assert line("dan") == ("Escalation step 2 (supervisor) for deviation: 1 of 2 notices delivered "
                           "(email to sup@example.org failed: 550 no such user sup@example.org)")
    assert line("eve") == "Escalation step 2 (supervisor) for deviation: 1 of 2 notices delivered (email failed)"
    login(client, "eve")
    page = client.get(f"/trips/{trip.id}").get_data(as_text=True)
    assert "sup@example.org" not in page and "+358401234567" not in page
