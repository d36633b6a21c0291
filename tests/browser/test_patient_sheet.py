"""The escort's tablet opens their own patient's sheet; another escort is told it is not theirs."""

from __future__ import annotations

from app.db import utcnow
from patients import sheet
from patients.schemas import SheetFields
from tests.browser.conftest import login_page
from tests.factories import PASSWORD


def _fill_sheet(world):
    body = SheetFields.model_validate({
        "contacts": [{"name": "Sam Example", "phone": "+44 20 7946 0000", "relation": "daughter"},
                     {"name": "Dr Lee", "phone": "+44 20 7946 0999", "role": "physician"}],
        "cognitive": {"wandering_risk": "high", "guidance": "Hold her arm at kerbs; she may try to walk off."},
        "allergies": ["latex"], "dispatcher_notes": "Dispatch-only remark",
    })
    sheet.apply(world.session, world.patient, body, now=utcnow())
    world.session.add(world.patient)
    world.session.commit()


def test_escort_opens_own_patient_sheet_from_the_tablet(browser, live, world):
    _fill_sheet(world)
    page = login_page(browser, live, "eve", PASSWORD)
    page.click("#sheet-link")
    page.wait_for_selector("#sheet-contacts")
    assert page.inner_text("#sheet-name") == "Pat Example"
    calls = page.locator("#sheet-contacts a.call")
    assert calls.count() == 2
    assert calls.first.get_attribute("href") == "tel:+442079460000"
    assert "Sam Example" in calls.first.inner_text()
    assert "Hold her arm at kerbs" in page.inner_text("#sheet-guidance")
    assert "latex" in page.inner_text("#sheet-clinical")
    assert "Dispatch-only remark" not in page.inner_text("main")


def test_another_escort_gets_a_clear_not_your_patient_page(browser, live, world):
    _fill_sheet(world)
    page = login_page(browser, live, "emil", PASSWORD)
    resp = page.goto(f"{live.url}/patients/{world.patient.id}")
    assert resp.status == 403
    assert page.inner_text("#not-yours h1") == "Not your patient"
    text = page.inner_text("main")
    assert "Pat Example" not in text and "Sam Example" not in text
