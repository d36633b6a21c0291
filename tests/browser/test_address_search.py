"""In a real browser against the real Nominatim: the address search fills the patient's home position."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import login_page
from tests.factories import PASSWORD
from tests.live import LiveServer
from tests.places.conftest import nominatim_url  # noqa: F401  (a fixture)


@pytest.fixture
def geo_live(app, world, tmp_path, nominatim_url):  # noqa: F811
    """Serve the test database with gunicorn, its geocoder the test Nominatim."""
    url = app.extensions["escort"].engine.url.render_as_string(hide_password=False)
    with LiveServer(url, tmp_path, ESCORT_GEOCODER_URL=nominatim_url) as server:
        yield server


def test_dispatcher_finds_the_home_picks_a_candidate_and_its_position_is_saved(browser, geo_live, world):
    api = {"headers": world.bearer("dan"), "timeout": 15}
    candidates = requests.get(f"{geo_live.url}/api/v1/geocode", params={"q": "Kaivokatu 1, Helsinki"}, **api).json()
    assert len(candidates) >= 2
    pick = candidates[1]  # not the first: the one the dispatcher chooses must be the one saved

    page = login_page(browser, geo_live, "dan", PASSWORD)
    page.goto(f"{geo_live.url}/patients/new")
    who = page.get_by_role("group", name="Who")
    who.get_by_label("Name", exact=True).fill("Helmi Esimerkki")
    search = who.get_by_label("Find the home on the map")
    search.fill("Kaivokatu 1, Helsinki")
    search.press("Enter")  # searches; does not submit the form
    expect(page.get_by_role("status")).to_have_text(re.compile(r"\d+ places found"))
    found = page.get_by_role("list", name="Places found").get_by_role("button")
    expect(found).to_have_count(len(candidates))
    expect(found.first).to_be_focused()  # straight on to the choice, by keyboard
    found.and_(page.get_by_role("button", name=pick["label"], exact=True)).click()
    expect(page.get_by_role("status")).to_have_text(f"Chosen: {pick['label']}.")
    expect(who.get_by_label("Home address")).to_have_value(pick["label"])
    page.get_by_role("button", name="Save patient").last.click()

    expect(page).to_have_url(re.compile(r"/patients/\d+$"))
    patient_id = int(page.url.rsplit("/", 1)[1])
    sheet = requests.get(f"{geo_live.url}/api/v1/patients/{patient_id}", **api).json()
    assert sheet["home"] == {"lat": pick["lat"], "lon": pick["lon"]}
    assert sheet["home_address"] == pick["label"]

    # The edit form shows the saved position, and keeps it when the sheet is saved again.
    page.goto(f"{geo_live.url}/patients/{patient_id}/edit")
    expect(page.get_by_text(re.compile(r"^Chosen: \(" + re.escape(f"{pick['lat']:.5f}")))).to_be_visible()
    page.get_by_role("button", name="Save patient").last.click()
    expect(page).to_have_url(re.compile(rf"/patients/{patient_id}$"))
    assert requests.get(f"{geo_live.url}/api/v1/patients/{patient_id}", **api).json()["home"] == sheet["home"]
