"""The routingpy adapter against a real HTTP server answering as OSRM, Valhalla and GraphHopper document.

No routing server installs on this machine from Debian (no osrm-backend, no valhalla package), so
the answers are small ones in each engine's documented response shape (tests/places/recorded/).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from places.routing import HttpRouter, NoRoadRoute, RouterUnavailable, parse_router_url
from tests.live import free_port

RECORDED = Path(__file__).parent / "recorded"
STATION, LONNROTINKATU = (60.171206, 24.941209), (60.166411, 24.938192)
LINE = [(60.171206, 24.941209), (60.170529, 24.940862), (60.169612, 24.939684), (60.166411, 24.938192)]


def _polyline6(points: list[tuple[float, float]]) -> str:
    """Encode (lat, lon) points as Valhalla's polyline with six decimals (Google's algorithm)."""
    out, last = [], (0, 0)
    for lat, lon in points:
        now = (round(lat * 1e6), round(lon * 1e6))
        for delta in (now[0] - last[0], now[1] - last[1]):
            value = ~(delta << 1) if delta < 0 else delta << 1
            while value >= 0x20:
                out.append(chr((0x20 | (value & 0x1F)) + 63))
                value >>= 5
            out.append(chr(value + 63))
        last = now
    return "".join(out)


class _Server:
    """A local HTTP server that records each request and answers with what the test set."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status, self.body, self.delay_s = 200, b"{}", 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append({"method": self.command, "path": self.path, "body": body,
                                        "agent": self.headers.get("User-Agent")})
                time.sleep(server.delay_s)
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, status: int, body: bytes | dict, delay_s: float = 0.0) -> None:
        """Set the next answers."""
        self.status, self.delay_s = status, delay_s
        self.body = json.dumps(body).encode() if isinstance(body, dict) else body


@pytest.fixture
def server():
    """Return a running answering server, shut down after the test."""
    srv = _Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _recorded(name: str) -> dict:
    """Return a recorded answer."""
    return json.loads((RECORDED / name).read_text())


def test_osrm_route_with_its_segment_durations(server):
    server.answer(200, _recorded("osrm_route.json"))
    route = HttpRouter(f"osrm+{server.url}").route([STATION, LONNROTINKATU])
    assert route.points == LINE
    assert route.distance_m == 612 and route.duration_s == 61  # routingpy rounds OSRM's to whole units
    assert route.segment_durations_s == [7.7, 11.8, 41.7]
    request = server.requests[0]
    path = urlsplit(request["path"])
    assert path.path == "/route/v1/driving/24.941209,60.171206;24.938192,60.166411"
    assert parse_qs(path.query) == {"geometries": ["geojson"], "overview": ["full"], "annotations": ["true"]}
    assert "escort-dispatch" in request["agent"]


def test_a_plain_http_url_is_osrm(server):
    server.answer(200, _recorded("osrm_route.json"))
    assert HttpRouter(server.url).route([STATION, LONNROTINKATU]).points == LINE


def test_valhalla_route(server):
    answer = _recorded("valhalla_route.json")
    answer["trip"]["legs"][0]["shape"] = _polyline6(LINE)
    server.answer(200, answer)
    route = HttpRouter(f"valhalla+{server.url}").route([STATION, LONNROTINKATU])
    assert route.points == LINE and route.distance_m == 612 and route.duration_s == 61
    assert route.segment_durations_s is None
    request = server.requests[0]
    assert request["method"] == "POST" and request["path"].startswith("/route")
    sent = json.loads(request["body"])
    assert sent["costing"] == "auto"
    assert [(p["lat"], p["lon"]) for p in sent["locations"]] == [STATION, LONNROTINKATU]


def test_graphhopper_route_with_its_key(server):
    server.answer(200, _recorded("graphhopper_route.json"))
    route = HttpRouter(f"graphhopper+{server.url}/api/1?key=SECRET").route([STATION, LONNROTINKATU])
    assert route.points == LINE and route.distance_m == 612 and route.duration_s == 61
    request = server.requests[0]
    assert urlsplit(request["path"]).path == "/api/1/route"
    assert parse_qs(urlsplit(request["path"]).query)["key"] == ["SECRET"]
    assert json.loads(request["body"])["profile"] == "car"


def test_a_refusal_says_what_the_router_answered(server):
    server.answer(400, _recorded("osrm_no_route.json"))
    with pytest.raises(NoRoadRoute, match=r"osrm router at .*answered 400.*Impossible route"):
        HttpRouter(f"osrm+{server.url}").route([STATION, LONNROTINKATU])


def test_a_server_error_is_reported_not_raised_raw(server):
    server.answer(500, b"<html>Internal Server Error</html>")
    with pytest.raises(RouterUnavailable, match="answered 500"):
        HttpRouter(f"osrm+{server.url}").route([STATION, LONNROTINKATU])


def test_a_slow_router_times_out_with_a_clear_message(server):
    server.answer(200, _recorded("osrm_route.json"), delay_s=3.0)
    began = time.monotonic()
    with pytest.raises(RouterUnavailable, match="no answer in time"):
        HttpRouter(f"osrm+{server.url}", timeout_s=1).route([STATION, LONNROTINKATU])
    assert time.monotonic() - began < 30


def test_a_router_that_is_down_is_reported():
    with pytest.raises(RouterUnavailable, match=r"osrm router at http://127\.0\.0\.1"):
        HttpRouter(f"osrm+http://127.0.0.1:{free_port()}").route([STATION, LONNROTINKATU])


@pytest.mark.parametrize("url", ["ftp://router", "mapbox+https://x", "osrm+https://", "osrm+file:///tmp/x"])
def test_router_urls_that_cannot_work_are_refused_with_the_setting_named(url):
    with pytest.raises(ValueError, match="ESCORT_ROUTER_URL"):
        parse_router_url(url)
