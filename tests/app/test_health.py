"""/healthz reports database, Redis and scheduler; /metrics counts what happened."""

from __future__ import annotations

import socket

from app import create_app
from tests.conftest import make_config, require
from tests.factories import fix_payload


def _redis_up() -> bool:
    """Say whether the machine's Redis answers on 127.0.0.1:6379."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def test_healthz_without_redis(client):
    body = client.get("/healthz").json
    assert body["database"] == "ok" and body["redis"] == "not configured" and body["status"] == "ok"
    assert body["scheduler"] == {"status": "off"}, "the tests' configuration turns the sweep off"


def test_healthz_reports_the_last_sweep(app):
    from dataclasses import replace

    from app import health
    from app.db import utcnow

    ext = app.extensions["escort"]
    swept = replace(ext, config=replace(ext.config, sweep_interval_s=5.0))
    assert health.report(swept)[0]["scheduler"] == {"status": "starting"}
    ext.sweep_once(utcnow())
    swept = replace(ext, config=replace(ext.config, sweep_interval_s=5.0))
    body = health.report(swept)[0]["scheduler"]
    assert body["status"] == "ok" and body["last_sweep_age_s"] < 5


def test_healthz_with_redis_up_and_down(app):
    from dataclasses import replace

    from app import health

    require(_redis_up(), "Redis is not running on 127.0.0.1:6379")
    ext = app.extensions["escort"]
    up, ok = health.report(replace(ext, config=replace(ext.config, redis_url="redis://127.0.0.1:6379/0")))
    assert ok and up["redis"] == "ok" and up["status"] == "ok"
    down, ok = health.report(replace(ext, config=replace(ext.config, redis_url="redis://127.0.0.1:1/0")))
    assert ok, "without Redis a process still serves its own clients"
    assert down["redis"].startswith("unreachable") and down["status"] == "degraded"


def test_healthz_says_503_when_the_database_is_away(tmp_path):
    app = create_app(make_config(tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503 and resp.json["database"].startswith("unreachable")


def _metric(text: str, name: str) -> float:
    """Return a metric's value from the exposition text (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_metrics_count_stored_and_rejected_fixes(client, world):
    before = client.get("/metrics").get_data(as_text=True)
    client.post("/api/v1/fixes", json=[fix_payload(1), fix_payload(2), {"seq": 3, "lat": 500}],
                headers={"Authorization": f"Bearer {world.device_token}"})
    after = client.get("/metrics").get_data(as_text=True)
    assert _metric(after, "escort_fixes_stored_total") - _metric(before, "escort_fixes_stored_total") == 2
    assert _metric(after, "escort_fixes_rejected_total") - _metric(before, "escort_fixes_rejected_total") == 1
    assert "escort_ingest_seconds_bucket" in after and 'escort_connected{namespace="device"}' in after
