"""The escort's tablet loses the network, keeps streaming into its queue, and loses nothing."""

from __future__ import annotations


from sqlmodel import select

from tests.browser.conftest import login_page
from tests.factories import PASSWORD
from tests.live import wait_until
from tracking.models import Device, Fix

POINTS = [(51.5007 + i * 0.0002, -0.1246 + i * 0.0003) for i in range(12)]


def _stored(session) -> list[Fix]:
    """Return the escort tablet's stored fixes in arrival order."""
    session.expire_all()
    tablet = session.exec(select(Device).where(Device.label == "tablet:eve")).first()
    if tablet is None:
        return []
    return list(session.exec(select(Fix).where(Fix.device_id == tablet.id).order_by(Fix.id)).all())



def _move(page, context, lat, lon) -> None:
    """Move the browser's position and give watchPosition a moment."""
    context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
    page.wait_for_timeout(250)


def test_offline_positions_are_queued_survive_a_closed_tab_and_arrive_once_in_order(browser, live, world, session):
    page = login_page(browser, live, "eve", PASSWORD, geolocation={"latitude": POINTS[0][0], "longitude": POINTS[0][1]},
                      permissions=["geolocation"])
    context = page.context
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
    _move(page, context, *POINTS[1])
    assert wait_until(lambda: len(_stored(session)) >= 1, 10.0)
    online_count = len(_stored(session))

    context.set_offline(True)
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('offline')",
                           timeout=30000)
    for lat, lon in POINTS[2:8]:
        _move(page, context, lat, lon)
    queued = int(page.inner_text("#fixes-queued"))
    assert queued >= 5, "positions taken offline wait in the queue"
    assert len(_stored(session)) == online_count, "nothing reached the server while offline"

    page.close()  # the tab is closed with the queue in it
    context.set_offline(False)
    reopened = context.new_page()
    reopened.goto(f"{live.url}/escort")
    assert wait_until(lambda: len(_stored(session)) >= online_count + queued, timeout_s=15)
    reopened.wait_for_function("() => document.querySelector('#fixes-queued').textContent === '0'")
    rows = _stored(session)
    seqs = [r.seq for r in rows]
    assert len(seqs) == len(set(seqs)), "each fix stored once"
    assert seqs == sorted(seqs), "in the order they were taken"
    stored_points = [(round(r.lat, 4), round(r.lon, 4)) for r in rows]
    for lat, lon in POINTS[2:8]:
        assert (round(lat, 4), round(lon, 4)) in stored_points


def test_a_reload_while_offline_shows_the_page_and_keeps_the_queue(browser, live, world, session):
    page = login_page(browser, live, "eve", PASSWORD, geolocation={"latitude": POINTS[0][0], "longitude": POINTS[0][1]},
                      permissions=["geolocation"])
    context = page.context
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null || "
                           "navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now the service worker controls the page and holds a copy of it
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    context.set_offline(True)
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('offline')",
                           timeout=30000)
    for lat, lon in POINTS[2:5]:
        _move(page, context, lat, lon)
    queued_before = int(page.inner_text("#fixes-queued"))
    assert queued_before >= 2
    page.reload()  # no network: the page must still load, with its queue
    assert "Pat Example" in page.inner_text("main")
    page.wait_for_function(f"() => Number(document.querySelector('#fixes-queued').textContent) >= {queued_before}")
    for lat, lon in POINTS[5:8]:
        _move(page, context, lat, lon)
    context.set_offline(False)
    page.wait_for_function("() => document.querySelector('#fixes-queued').textContent === '0'", timeout=20000)
    rows = _stored(session)
    seqs = [r.seq for r in rows]
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs)
    stored_points = {(round(r.lat, 4), round(r.lon, 4)) for r in rows}
    assert {(round(a, 4), round(b, 4)) for a, b in POINTS[2:8]} <= stored_points
