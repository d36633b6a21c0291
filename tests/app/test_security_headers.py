"""Security headers: the CSP follows the tile server, HSTS only when set, nothing personal cached."""

from __future__ import annotations

from app import create_app
from app.config import Config, ConfigError
from app.security import tile_source
from tests.conftest import make_config
from tests.factories import login


def _csp(resp) -> dict[str, str]:
    """Return the CSP's directives by name."""
    parts = [p.strip().split(" ", 1) for p in resp.headers["Content-Security-Policy"].split(";")]
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def test_img_src_allows_the_configured_tile_server_and_nothing_else(tmp_path):
    app = create_app(make_config(tmp_path, tile_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png"))
    csp = _csp(app.test_client().get("/login"))
    assert csp["img-src"] == "'self' data: https://*.tiles.example.org"
    assert csp["script-src"] == "'self'" and csp["default-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"


def test_no_tiles_configured_means_no_tile_host(app, client):
    assert _csp(client.get("/login"))["img-src"] == "'self' data:"


def test_tile_source_of_templates_and_odd_urls():
    assert tile_source("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == "https://tile.openstreetmap.org"
    assert tile_source("http://tiles.local:8080/{z}/{x}/{y}.png") == "http://tiles.local:8080"
    assert tile_source("https://a{s}.example.org/{z}/{x}/{y}.png") == "https:"
    assert tile_source("/tiles/{z}/{x}/{y}.png") is None
    assert tile_source("") is None


def test_hsts_is_sent_only_when_set(tmp_path):
    plain = create_app(make_config(tmp_path)).test_client().get("/login")
    assert "Strict-Transport-Security" not in plain.headers
    hsts = create_app(make_config(tmp_path, hsts_s=31536000)).test_client().get("/login")
    assert hsts.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_setting_is_read_from_the_environment(tmp_path):
    env = {"ESCORT_INSTANCE_PATH": str(tmp_path), "ESCORT_HSTS_S": "600"}
    assert Config.from_env(env).hsts_s == 600
    try:
        Config.from_env({**env, "ESCORT_HSTS_S": "a year"})
    except ConfigError as exc:
        assert "ESCORT_HSTS_S" in str(exc)
    else:
        raise AssertionError("a bad ESCORT_HSTS_S must be refused by name")


def test_personal_answers_are_not_stored_and_errors_carry_the_headers_too(app, client, world):
    login(client, "dan")
    for path in ("/dispatch", f"/patients/{world.patient.id}", f"/api/v1/trips/{world.trip.id}", "/trips",
                 "/api/v1/trips/999999", "/no-such-page"):
        resp = client.get(path)
        assert resp.headers["Cache-Control"] == "no-store", path
        assert resp.headers["X-Frame-Options"] == "DENY", path
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", path
    static = client.get("/static/js/dispatch.js")
    assert "no-store" not in static.headers.get("Cache-Control", "")
    assert "Content-Security-Policy" in static.headers
    static.close()
    worker = client.get("/escort-sw.js")
    assert worker.headers["Cache-Control"] == "no-cache"
    worker.close()
