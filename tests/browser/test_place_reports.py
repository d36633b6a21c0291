"""In Chromium: an escort reports a place from the tablet; a dispatcher reviews it on /admin/places/reports,
declines one with a reason and publishes the other, which then warns: the tablet driving into it shows
the notice, and the live map gets the ``flagged_place`` alert."""

from __future__ import annotations

import re

import requests

from tests.browser.conftest import login_page
from tests.browser.test_accessibility import audit
from tests.factories import PASSWORD

HERE = {"latitude": 51.5007, "longitude": -0.1246}


def _report_from_tablet(tablet, where: str, category: str, reason: str) -> None:
    """Fill in and send the tablet's "Report a place" dialog."""
    tablet.get_by_role("button", name="Report a place").click()
    dialog = tablet.get_by_role("dialog", name="Report a place")
    dialog.get_by_label(where).check()
    dialog.get_by_label("What kind of risk").select_option(label=category)
    dialog.get_by_label("What happened, and what should others watch for").fill(reason)
    dialog.get_by_role("button", name="Send report").click()


def test_an_escort_reports_and_a_dispatcher_declines_one_and_publishes_the_other(browser, live, world):
    tablet = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"])
    opener = tablet.get_by_role("button", name="Report a place")
    # Escape closes the dialog and gives focus back to what opened it; an empty reason is refused at the field.
    opener.click()
    dialog = tablet.get_by_role("dialog", name="Report a place")
    assert dialog.is_visible()
    assert audit(tablet, live) == [], "the tablet with the dialog open"
    dialog.get_by_role("button", name="Send report").click()
    assert dialog.get_by_role("alert").inner_text() == "Say what the risk is."
    tablet.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert tablet.evaluate("document.activeElement.id") == "report-open"

    _report_from_tablet(tablet, "The pickup", "Dog on the premises", "Large dog loose in the garden")
    result = tablet.get_by_role("status").filter(has_text="Report sent")
    result.wait_for(timeout=10000)
    assert result.inner_text() == "Report sent: Dog on the premises at the pickup. Dispatch will review it."
    _report_from_tablet(tablet, "The drop-off", "No lift", "Lift out of order <b>again</b>")
    tablet.get_by_text("Report sent: No lift at the drop-off.").wait_for(timeout=10000)

    desk = login_page(browser, live, "dan", PASSWORD)
    desk.goto(f"{live.url}/admin/places/reports")
    assert desk.get_by_role("heading", name="1. Dog on the premises", exact=False).is_visible()
    assert desk.get_by_role("region", name="Map of the reported places").is_visible()
    assert desk.get_by_role("link", name=f"Trip {world.trip.id}").first.get_attribute("href") == \
        f"/dispatch/trips/{world.trip.id}"
    assert desk.get_by_text("Lift out of order <b>again</b>").is_visible(), "what an escort typed stays text"
    assert desk.locator("#report-list b").count() == 0
    assert "eve" in desk.locator("#report-list").inner_text()
    assert audit(desk, live) == []

    # Declining needs a reason: the error is shown at the field.
    desk.get_by_role("button", name="Decline report 2").click()
    assert desk.get_by_role("alert").filter(has_text="There is a problem").is_visible()
    assert desk.get_by_label("Reason for declining report 2").get_attribute("aria-invalid") == "true"
    desk.get_by_label("Reason for declining report 2").fill("The lift was repaired on Monday")
    desk.get_by_role("button", name="Decline report 2").click()
    desk.get_by_text("Declined: No lift").wait_for(timeout=5000)

    desk.get_by_role("button", name="Publish report 1").click()
    desk.get_by_text("Published: Dog on the premises").wait_for(timeout=5000)
    assert desk.get_by_text("No reported places are waiting for review.").is_visible()

    listed = requests.get(f"{live.url}/api/v1/flagged-places", headers=world.bearer("dan"), timeout=5).json()
    assert [(p["category"], p["reason"]) for p in listed] == [("dog", "Large dog loose in the garden")]
    # The escort's tablet now warns of it at the pickup.
    tablet.reload()
    tablet.get_by_text("At the pickup: Dog on the premises").wait_for(timeout=5000)

    # Driving into the published place: the tablet shows (and says) the notice; the live map gets the alert.
    desk.goto(f"{live.url}/dispatch")
    notice = tablet.locator("#place-notice")
    for step in range(1, 8):
        tablet.context.set_geolocation({"latitude": HERE["latitude"] + step * 0.00002,
                                        "longitude": HERE["longitude"], "accuracy": 5})
        tablet.wait_for_timeout(1500)
        if notice.is_visible():
            break
    assert notice.inner_text() == "Flagged place: Dog on the premises — Large dog loose in the garden"
    assert tablet.locator("#checkin-announce").inner_text() == notice.inner_text()
    desk.locator("#alert-list li[data-kind='flagged_place']").wait_for(timeout=10000)
    card = desk.locator("#alert-list li[data-kind='flagged_place']").inner_text()
    assert "flagged place" in card.lower() and "Large dog loose in the garden" in card


def test_the_escort_reads_where_their_own_reports_stand_and_another_escort_sees_none(browser, live, world):
    tablet = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"])
    mine = tablet.get_by_role("list", name="Places I reported on this trip")
    tablet.get_by_text("You have not reported a place on this trip.").wait_for(timeout=10000)
    _report_from_tablet(tablet, "The drop-off", "No lift", "Lift out of order <b>again</b>")
    tablet.get_by_text("Report sent: No lift at the drop-off.").wait_for(timeout=10000)
    row = mine.get_by_role("listitem").filter(has_text="No lift")
    assert "Waiting for review" in row.inner_text()
    assert re.search(r"reported \d{4}-\d{2}-\d{2} \d{2}:\d{2} \S+", row.inner_text()), row.inner_text()
    assert not tablet.get_by_text("You have not reported a place on this trip.").is_visible()

    # Dispatch declines it: the row changes in place (the same element), with the reason, and it is said.
    tablet.evaluate("window.__row = document.querySelector('#my-reports li')")
    [report] = requests.get(f"{live.url}/api/v1/flagged-places/reports", headers=world.bearer("dan"), timeout=5).json()
    resp = requests.post(f"{live.url}/api/v1/flagged-places/{report['id']}/decline", headers=world.bearer("dan"),
                         json={"reason": "The lift was repaired <i>on Monday</i>"}, timeout=5)
    assert resp.status_code == 200, resp.text
    row.filter(has_text="Declined").wait_for(timeout=10000)
    assert "Dispatch's reason: The lift was repaired <i>on Monday</i>" in row.inner_text()
    assert tablet.locator("#my-reports i").count() == 0, "what dispatch typed stays text"
    assert tablet.evaluate("window.__row === document.querySelector('#my-reports li')"), "changed in place"
    assert "declined" in tablet.locator("#checkin-announce").inner_text().lower()
    assert audit(tablet, live) == []

    # After a reload it is still there, and still only this escort's.
    tablet.reload()
    mine.get_by_role("listitem").filter(has_text="Declined").wait_for(timeout=10000)
    assert "dan" not in mine.inner_text()

    world.make_trip(status="assigned", escort="emil", device=None)
    other = login_page(browser, live, "emil", PASSWORD)
    other.get_by_text("You have not reported a place on this trip.").wait_for(timeout=10000)
    assert other.get_by_role("list", name="Places I reported on this trip").get_by_role("listitem").count() == 0
    assert "Lift out of order" not in other.content()


def test_a_dispatcher_reviews_on_the_page_by_the_reports_words_and_the_tablet_sees_each_answer(browser, live, world):
    """The review page as a person uses it: each report found by what the escort wrote, one published and one
    declined with a reason through the report's own buttons and field; the page then says what was done and
    lists neither; the reporting escort's open tablet shows both answers without a reload."""
    tablet = login_page(browser, live, "eve", PASSWORD, geolocation=HERE, permissions=["geolocation"])
    mine = tablet.get_by_role("list", name="Places I reported on this trip")
    tablet.get_by_text("You have not reported a place on this trip.").wait_for(timeout=10000)
    _report_from_tablet(tablet, "The pickup", "Dog on the premises", "Large dog loose in the garden")
    tablet.get_by_text("Report sent: Dog on the premises at the pickup.").wait_for(timeout=10000)
    _report_from_tablet(tablet, "The drop-off", "No lift", "Lift out of order since Friday")
    tablet.get_by_text("Report sent: No lift at the drop-off.").wait_for(timeout=10000)
    dog_row = mine.get_by_role("listitem").filter(has_text="Dog on the premises")
    lift_row = mine.get_by_role("listitem").filter(has_text="No lift")
    assert "Waiting for review" in dog_row.inner_text() and "Waiting for review" in lift_row.inner_text()
    tablet.evaluate("() => { window.__rows = Array.from(document.querySelectorAll('#my-reports li')); }")

    desk = login_page(browser, live, "dan", PASSWORD)
    desk.goto(f"{live.url}/admin/places/reports")
    reports = desk.get_by_role("list").filter(has=desk.get_by_role("heading", name="Dog on the premises", exact=False))
    assert reports.get_by_role("listitem").count() == 2

    # Decline the lift report, found by what the escort wrote, with a reason typed in its own field.
    lift = reports.get_by_role("listitem").filter(has_text="Lift out of order since Friday")
    decline = lift.get_by_role("button", name=re.compile(r"^Decline report \d+$"))
    where = "b => { const r = b.getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.width]; }"
    before = decline.evaluate(where)
    lift.get_by_label(re.compile(r"^Reason for declining report \d+$")).fill("The lift was repaired on Monday")
    assert decline.evaluate(where) == before, "focusing the field moves nothing (a moving button loses the click)"
    decline.click()
    desk.get_by_text("Declined: No lift").wait_for(timeout=5000)
    assert re.fullmatch(r"Declined: No lift at .+\.", desk.locator(".flashes").inner_text()), \
        desk.locator(".flashes").inner_text()
    assert reports.get_by_role("listitem").count() == 1
    assert "Lift out of order" not in desk.locator("main").inner_text()

    # Publish the dog report, found the same way.
    dog = reports.get_by_role("listitem").filter(has_text="Large dog loose in the garden")
    assert dog.get_by_role("heading").inner_text().startswith("1. Dog on the premises: ")
    dog.get_by_role("button", name=re.compile(r"^Publish report \d+$")).click()
    desk.get_by_text("Published: Dog on the premises").wait_for(timeout=5000)
    assert re.fullmatch(r"Published: Dog on the premises at .+\. Trips near it are warned now\.",
                        desk.locator(".flashes").inner_text()), desk.locator(".flashes").inner_text()
    assert desk.get_by_text("No reported places are waiting for review.").is_visible()
    assert desk.get_by_role("listitem").filter(has_text="Large dog loose").count() == 0

    # The escort's open tablet: both rows change in place, the decline with dispatch's reason.
    dog_row.filter(has_text="Published").wait_for(timeout=10000)
    lift_row.filter(has_text="Declined").wait_for(timeout=10000)
    assert dog_row.locator(".report-state").inner_text() == "Published"
    assert lift_row.locator(".report-state").inner_text() == "Declined"
    assert "Dispatch's reason: The lift was repaired on Monday" in lift_row.inner_text()
    assert "Dispatch's reason" not in dog_row.inner_text()
    assert tablet.evaluate("() => Array.from(document.querySelectorAll('#my-reports li'))"
                           ".every((li, i) => li === window.__rows[i])"), "changed in place, not rebuilt"
    assert "published" in tablet.locator("#checkin-announce").inner_text().lower()
