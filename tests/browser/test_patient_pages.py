"""In a real browser: a dispatcher creates, finds and edits a patient through the pages; others may not."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from playwright.sync_api import expect

from app.db import utcnow
from tests.browser.conftest import login_page
from tests.factories import PASSWORD, ROUTE


def _api(live, world, method: str, path: str, **kwargs):
    """Seed or check through the REST API as the dispatcher (never a step of the test itself)."""
    resp = requests.request(method, f"{live.url}/api/v1{path}", headers=world.bearer("dan"), timeout=10, **kwargs)
    assert resp.status_code < 300, resp.text
    return resp.json()


def test_dispatcher_creates_finds_and_edits_a_patient(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="New patient").click()

    who = page.get_by_role("group", name="Who")
    who.get_by_label("Name", exact=True).fill("Rosa Bianchi")
    who.get_by_label("Date of birth").fill("1938-02-30")
    who.get_by_label("Member ID").fill("MB-20417")
    page.get_by_label("Mobility").select_option(label="Wheelchair")
    medication = page.get_by_role("group", name="Medication 1")
    medication.get_by_label("Name", exact=True).fill("Xylofenamate")
    medication.get_by_label("Dose", exact=True).fill("5 mg")
    medication.get_by_label("Times of day").fill("08:00, 25:00")
    contact = page.get_by_role("group", name="Contact 1")
    contact.get_by_label("Name", exact=True).fill("Zebedee Quintrell")
    contact.get_by_label("Phone").fill("+44 20 7946 0111")
    page.get_by_role("button", name="Save patient").click()

    # The summary at the top names each problem and links to its field; the message is at the field too.
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_be_focused()
    born = "Date of birth must be a real date written as year-month-day, e.g. 1938-04-02"
    times = "Medication 1 times of day: '25:00' is not a time of day like 08:00"
    expect(summary.get_by_role("link")).to_have_text([born, times])
    expect(page.locator("#date_of_birth-error")).to_have_text(f"Error: {born}")
    expect(page.locator("#medications-0-times-error")).to_have_text(f"Error: {times}")
    expect(who.get_by_label("Date of birth")).to_have_accessible_description(re.compile(re.escape(born)))
    # What was typed is still there.
    expect(who.get_by_label("Date of birth")).to_have_value("1938-02-30")
    expect(page.get_by_role("group", name="Medication 1").get_by_label("Times of day")).to_have_value("08:00, 25:00")
    expect(page.get_by_role("group", name="Contact 1").get_by_label("Name", exact=True)).to_have_value("Zebedee Quintrell")
    expect(page.get_by_label("Mobility")).to_have_value("wheelchair")
    summary.get_by_role("link", name=times).click()
    expect(page.get_by_role("group", name="Medication 1").get_by_label("Times of day")).to_be_focused()

    page.get_by_role("group", name="Who").get_by_label("Date of birth").fill("1938-04-02")
    page.get_by_role("group", name="Medication 1").get_by_label("Times of day").fill("08:00, 20:00")
    page.get_by_role("button", name="Save patient").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rosa Bianchi")
    expect(page.locator(".flashes")).to_contain_text("Patient sheet created.")
    patient_id = int(page.url.rsplit("/", 1)[1])
    stored = _api(live, world, "GET", f"/patients/{patient_id}")
    assert stored["date_of_birth"] == "1938-04-02" and stored["mobility"] == "wheelchair"
    assert stored["medications"][0]["times"] == ["08:00", "20:00"]

    # A trip is booked for her (seeded): the list and the sheet show it as coming.
    now = utcnow()
    trip = _api(live, world, "POST", "/trips", json={
        "patient_id": patient_id, "escort": "eve",
        "pickup": {"lat": ROUTE[0][0], "lon": ROUTE[0][1]}, "dropoff": {"lat": ROUTE[-1][0], "lon": ROUTE[-1][1]},
        "route": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in ROUTE]},
        "scheduled_pickup_at": (now + timedelta(days=1)).isoformat()})

    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_label("Search by name or member ID").fill("MB-204")
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(2)  # the heading and Rosa: Pat Example has no such member ID
    expect(rows.nth(1)).to_contain_text("Wheelchair")
    expect(rows.nth(1).get_by_role("link", name=f"Trip {trip['id']}")).to_be_visible()
    rows.nth(1).get_by_role("link", name="Rosa Bianchi").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rosa Bianchi")
    coming = page.locator("#trips-coming")
    expect(coming.get_by_role("link", name=f"Trip {trip['id']}")).to_have_attribute(
        "href", f"/dispatch/trips/{trip['id']}")

    page.get_by_role("link", name="Edit sheet").click()
    page.get_by_role("button", name="Add another contact").click()
    second = page.get_by_role("group", name="Contact 2")
    expect(second.get_by_label("Name", exact=True)).to_be_focused()
    expect(page.get_by_role("group", name="Contact 1").get_by_label("Name", exact=True)).to_have_value(
        "Zebedee Quintrell")
    second.get_by_label("Name", exact=True).fill("Dr Okafor")
    second.get_by_label("Phone").fill("+44 20 7946 0222")
    second.get_by_label("Role").select_option(label="Physician")
    page.get_by_role("button", name="Save patient").click()
    expect(page.locator(".flashes")).to_contain_text("Patient sheet saved.")
    expect(page.locator("#sheet-contacts a.call")).to_have_count(2)
    stored = _api(live, world, "GET", f"/patients/{patient_id}")
    assert [(c["name"], c["role"]) for c in stored["contacts"]] == [
        ("Zebedee Quintrell", "emergency"), ("Dr Okafor", "physician")]
    assert stored["date_of_birth"] == "1938-04-02" and stored["medications"][0]["times"] == ["08:00", "20:00"]

    page.locator("#trips-coming").get_by_role("link", name=f"Trip {trip['id']}").click()
    expect(page.get_by_role("link", name="Rosa Bianchi")).to_have_attribute("href", f"/patients/{patient_id}")


@pytest.mark.parametrize("who", ["eve", "cora"])
def test_escorts_and_coordinators_get_403_for_the_forms(browser, live, world, who):
    page = login_page(browser, live, who, PASSWORD)
    for path in ("/patients/new", f"/patients/{world.patient.id}/edit"):
        assert page.goto(f"{live.url}{path}").status == 403, path
    expect(page.get_by_role("link", name="Patients", exact=True)).to_have_count(0)


def test_the_live_map_trip_list_links_to_the_sheet(browser, live, world):
    page = login_page(browser, live, "dan", PASSWORD)
    page.goto(f"{live.url}/dispatch")
    row = page.locator(f"#trip-list li[data-trip-id='{world.trip.id}']")
    expect(row.get_by_role("link", name="Patient sheet")).to_have_attribute("href", f"/patients/{world.patient.id}")
    row.get_by_role("link", name="Patient sheet").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pat Example")
