"""One tablet, two escorts: what Eve queued is never sent as Emil; her queued panic reaches dispatch as hers."""

from __future__ import annotations

import re

from sqlmodel import select

from dispatch.models import Alert
from tests.factories import PASSWORD
from tests.live import wait_until
from tracking.models import Device, Fix

SOCKET_IO = re.compile(r".*/socket\.io/.*")
EVE_POINTS = [(51.5007 + i * 0.0002, -0.1246 + i * 0.0003) for i in range(6)]
EMIL_POINT = (51.4900, -0.1400)
SOS = "SOS hold 2 s"  # its accessible name is its visible text
QUEUED_SEQS = """() => Object.keys(localStorage).filter(k => k.startsWith('escort.queue'))
    .flatMap(k => JSON.parse(localStorage.getItem(k)) || []).map(f => f.seq)"""



def _seqs(session, label: str) -> set[int]:
    """Return the seqs stored for the device labelled ``label``."""
    session.expire_all()
    device = session.exec(select(Device).where(Device.label == label)).first()
    if device is None:
        return set()
    return set(session.exec(select(Fix.seq).where(Fix.device_id == device.id)).all())


def _log_in(page, username: str) -> None:
    """Log in through the form, found by its labels."""
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")


def _online(page) -> None:
    """Wait until the tablet page's connection is up."""
    page.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('online')")


def _hold_sos(page) -> None:
    """Hold the SOS button for longer than the two seconds it needs."""
    button = page.get_by_role("button", name=SOS)
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(2300)
    page.mouse.up()


def test_a_shared_tablet_sends_each_escorts_queue_only_as_that_escort(browser, live, world, session):
    world.users["escort2"].on_duty = True  # Emil has no trip: on duty, his own position is shared
    session.add(world.users["escort2"])
    session.commit()
    dispatcher = browser.new_context(base_url=live.url).new_page()
    _log_in(dispatcher, "dan")
    dispatcher.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('live')")

    tablet = browser.new_context(base_url=live.url, permissions=["geolocation"],
                                 geolocation={"latitude": EVE_POINTS[0][0], "longitude": EVE_POINTS[0][1]})
    eve = tablet.new_page()
    _log_in(eve, "eve")
    _online(eve)

    # Eve loses the network: her positions and an SOS wait on the tablet.
    tablet.set_offline(True)
    eve.wait_for_function("() => document.querySelector('#conn-status').textContent.includes('offline')",
                          timeout=30000)
    for lat, lon in EVE_POINTS[1:]:
        tablet.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
        eve.wait_for_timeout(250)
    _hold_sos(eve)
    assert eve.evaluate("() => Object.keys(localStorage).some(k => k.startsWith('escort.panic'))")
    eve_queued = set(eve.evaluate(QUEUED_SEQS))
    assert len(eve_queued - _seqs(session, "tablet:eve")) >= 3  # (one may have arrived, its answer lost)

    # The network is back but her socket is not (a flaky link), and she logs out.
    eve.route(SOCKET_IO, lambda route: route.abort())
    eve.route_web_socket(SOCKET_IO, lambda ws: ws.close())
    tablet.set_offline(False)
    eve.get_by_role("button", name="Log out").click()
    eve.wait_for_load_state("networkidle")
    eve.close()

    # Emil logs in on the same tablet (same browser storage) somewhere else.
    tablet.set_geolocation({"latitude": EMIL_POINT[0], "longitude": EMIL_POINT[1], "accuracy": 5})
    emil = tablet.new_page()
    _log_in(emil, "emil")
    _online(emil)

    # Eve's panic reaches the dispatcher as Eve's, on her trip.
    item = dispatcher.locator("#alert-list li[data-kind='panic']")
    item.wait_for(timeout=15000)
    assert "Pat Example · eve" in item.inner_text()
    assert wait_until(lambda: _seqs(session, "tablet:emil") != set(), 15.0)  # Emil's own position went
    session.expire_all()
    [panic] = session.exec(select(Alert).where(Alert.kind == "panic")).all()
    eve_tablet = session.exec(select(Device).where(Device.label == "tablet:eve")).one()
    assert panic.device_id == eve_tablet.id and panic.trip_id == world.trip.id

    # None of Eve's positions went as Emil's: they wait for her, and Emil is told.
    emil.wait_for_timeout(1000)
    assert _seqs(session, "tablet:emil").isdisjoint(eve_queued)
    assert set(emil.evaluate(QUEUED_SEQS)) == eve_queued
    others = emil.locator("#others-queued")
    assert others.is_visible()
    assert re.fullmatch(r"(\d+) items queued by another escort, sent when they log in", others.inner_text())
    assert int(others.inner_text().split()[0]) >= len(eve_queued)
    assert emil.locator("#fixes-queued").inner_text() == "0"

    # Eve logs in again: her queue goes, as hers, and Emil's tablet page is gone.
    emil.get_by_role("button", name="Log out").click()
    emil.wait_for_load_state("networkidle")
    _log_in(emil, "eve")
    _online(emil)
    assert wait_until(lambda: eve_queued <= _seqs(session, "tablet:eve"), 15.0)
    assert _seqs(session, "tablet:emil").isdisjoint(eve_queued)
    emil.wait_for_function("() => document.querySelector('#others-queued').hidden")
    session.expire_all()
    assert len(session.exec(select(Alert).where(Alert.kind == "panic")).all()) == 1
