"""In Chromium: a message goes from the tablet to the dispatcher's trip page and back, each shown as
read once the other side displayed it; a dose is recorded; off duty, the tablet stops streaming."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import utcnow
from dispatch.models import TripEvent

from tests.browser.conftest import login_page
from tests.factories import PASSWORD
from tests.live import wait_until
from tracking.models import Device, Fix

HERE = {"latitude": 51.5007, "longitude": -0.1246}


def _tablet_fixes(session) -> list[Fix]:
    """Return the escort's browser tablet's stored fixes."""
    session.expire_all()
    tablet = session.exec(select(Device).where(Device.label == "tablet:eve")).first()
    return [] if tablet is None else list(session.exec(select(Fix).where(Fix.device_id == tablet.id)).all())


def test_a_message_goes_from_the_tablet_to_the_trip_page_and_back_and_shows_as_read(browser, live, world):
    desk = login_page(browser, live, "dan", PASSWORD)
    desk.goto(f"{live.url}/dispatch/trips/{world.trip.id}")
    tablet = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"])
    tablet.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")

    tablet.get_by_role("button", name="Running 10 minutes late").click()
    desk.get_by_role("list", name="Messages, oldest first").get_by_text("Running 10 minutes late").wait_for(timeout=10000)
    mine = tablet.locator("#line-list li.mine").filter(has_text="Running 10 minutes late")
    mine.get_by_text("Read ").wait_for(timeout=10000)  # the trip page displayed it

    desk.get_by_label("Message to the escort (up to 500 characters)").fill("<b>Thanks</b>, the clinic knows")
    desk.get_by_role("button", name="Send message").click()
    incoming = tablet.locator("#line-list li").filter(has_text="the clinic knows")
    incoming.wait_for(timeout=10000)
    assert incoming.locator(".msg-text").inner_text() == "<b>Thanks</b>, the clinic knows"  # text, not HTML
    assert incoming.locator("b").count() == 0
    assert "Dispatch (dan)" in incoming.inner_text()
    desk.locator("#line-list li.mine").filter(has_text="the clinic knows").get_by_text("Read ").wait_for(timeout=10000)

    tablet.get_by_label("Message to dispatch").fill("Stuck at the lights")
    tablet.keyboard.press("Tab")
    tablet.keyboard.press("Enter")  # the Send button, by keyboard
    desk.locator("#line-list").get_by_text("Stuck at the lights").wait_for(timeout=10000)
    # Said aloud: in the trip page's polite live region (the page's one, shared with its alerts).
    desk.wait_for_function("() => document.querySelector('#announce-polite').textContent"
                           ".includes('New message from Escort eve: Stuck at the lights')", timeout=10000)


def test_a_dose_due_is_recorded_as_skipped_with_a_reason_from_the_tablet(browser, live, world, session):
    due = utcnow() + timedelta(minutes=30)
    world.patient.medications = [{"name": "Insulin", "dose": "8 units", "times": [due.strftime("%H:%M")]}]
    session.add(world.patient)
    session.commit()
    tablet = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"])
    tablet.get_by_text("Insulin 8 units").wait_for(timeout=10000)
    tablet.get_by_role("button", name="Skipped: Insulin").click()
    tablet.get_by_label("Why was Insulin skipped?").fill("Patient asleep")
    tablet.get_by_role("button", name="Record as skipped").click()
    tablet.get_by_text("Insulin recorded as skipped.").wait_for(timeout=10000)
    tablet.get_by_text("No dose due on this trip.").wait_for(timeout=10000)
    session.expire_all()
    assert session.exec(select(TripEvent).where(TripEvent.kind == "medication_skipped")).first() is not None


def test_off_duty_with_no_trip_the_tablet_stops_streaming(browser, live, world, session):
    world.trip.status = "completed"
    session.add(world.trip)
    session.commit()
    tablet = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"])
    context = tablet.context
    tablet.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
    switch = tablet.get_by_role("switch", name="On duty")
    assert switch.get_attribute("aria-checked") == "false"
    assert "not shared" in tablet.inner_text("#duty-state")
    context.set_geolocation({"latitude": 51.5010, "longitude": -0.1200, "accuracy": 5})
    tablet.wait_for_timeout(1500)
    assert _tablet_fixes(session) == [] and tablet.evaluate("window.escortState.sent") == 0

    switch.click()
    tablet.wait_for_function("() => document.querySelector('#duty-toggle').getAttribute('aria-checked') === 'true'")
    assert "shared with dispatch" in tablet.inner_text("#duty-state")
    context.set_geolocation({"latitude": 51.5014, "longitude": -0.1150, "accuracy": 5})
    assert wait_until(lambda: len(_tablet_fixes(session)) >= 1, 10.0), "on duty, the position is shared"

    switch.focus()
    tablet.keyboard.press("Space")  # off again, by keyboard
    tablet.wait_for_function("() => document.querySelector('#duty-toggle').getAttribute('aria-checked') === 'false'")
    stored = len(_tablet_fixes(session))
    sent = tablet.evaluate("window.escortState.sent")
    for lon in (-0.1100, -0.1050):
        context.set_geolocation({"latitude": 51.5018, "longitude": lon, "accuracy": 5})
        tablet.wait_for_timeout(500)
    tablet.wait_for_timeout(1000)
    assert len(_tablet_fixes(session)) == stored and tablet.evaluate("window.escortState.sent") == sent
    assert tablet.evaluate("JSON.parse(localStorage.getItem('escort.queue.v2.' + %d) || '[]').length"
                           % world.users["escort"].id) == 0, "nothing is queued to be sent later either"
