"""The evaluation on the real traces, through the server's own ingest pipeline; and replays agree."""

from __future__ import annotations

import pytest

from app.evaluate import Replayer, evaluate
from tests.conftest import shared_data
from tracking.detectors import DetectionSettings
from tracking.traces import inject_detour, inject_stop, read_trace

# Each replay runs on a SQLite file of its own in tmp_path, whichever database the pass tests.
pytestmark = pytest.mark.once


TRACES = ["gpsbabel__mtk_logger_m241.csv", "gpsbabel__mtk_logger_m241.gpx", "gpxpy__around-visnjan-with-car.gpx"]


def test_the_evaluation_covers_every_recorded_trace():
    on_disk = sorted(p.name for p in shared_data("traces").iterdir() if p.suffix in (".gpx", ".csv"))
    assert on_disk == TRACES, "a trace was added or removed: name it in TRACES"


@pytest.mark.parametrize("name", TRACES)  # one test a trace, so parallel workers share the minutes
def test_every_scenario_on_the_recorded_traces_meets_its_target(tmp_path, name):
    lines: list[str] = []
    rows = evaluate([shared_data("traces", name)], echo=lines.append, workdir=tmp_path)
    assert len(rows) == 7
    failed = [r.line() for r in rows if not r.ok]
    assert failed == [], "\n".join(failed)
    detours = [r for r in rows if r.expected == "deviation"]
    assert all(r.resolved for r in detours), "every detour is cleared on rejoining"


def _alerts(replayer, trip):
    """Return what matters of a trip's alerts for comparing replays."""
    return [(a.kind, a.raised_at, a.resolved_at) for a in replayer.alerts(trip)]


@pytest.mark.parametrize("name", ["gpxpy__around-visnjan-with-car.gpx", "gpsbabel__mtk_logger_m241.gpx"])
def test_replayed_twice_or_in_one_batch_the_same_alerts(tmp_path, name):
    recorded = read_trace(shared_data("traces", name))
    settings = DetectionSettings()
    detoured = inject_detour(recorded, 300, corridor_m=settings.corridor_m).fixes
    fixes = inject_stop(detoured, settings.stop_after_s + 60, stop_after_s=settings.stop_after_s, at_frac=0.8).fixes
    replayer = Replayer(tmp_path)
    try:
        results = []
        for batch in (1, 1, 50, len(fixes)):
            device, trip = replayer.trip(recorded)
            replayer.replay(device, fixes, batch=batch)
            results.append(_alerts(replayer, trip))
    finally:
        replayer.close()
    assert [k for k, _, _ in results[0]] == ["deviation", "stop"]
    assert results[0] == results[1] == results[2] == results[3]
