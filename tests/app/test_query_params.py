"""Date and number query parameters of the REST API: absurd values are a 400 naming the parameter, never a 500."""

from __future__ import annotations

import base64

import pytest

# Times at the edges of what Python can hold: in UTC they overflow (the 500 found in /api/v1/audit).
EDGE_TIMES = ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-00:01")
HUGE_NUMBERS = ("99999999999999999999999", "-1", "1e400", "NaN", "٣")


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


CASES = (
    [("/api/v1/audit", "since", v, "ada") for v in EDGE_TIMES]
    + [("/api/v1/audit", "until", v, "ada") for v in EDGE_TIMES]
    + [("/api/v1/audit", name, v, "ada") for name in ("patient_id", "before_id", "limit") for v in HUGE_NUMBERS]
    + [("/api/v1/trips", "after", _cursor(f"{v}|1"), "dan") for v in EDGE_TIMES]
    + [("/api/v1/trips", name, v, "dan") for name in ("limit", "patient_id") for v in HUGE_NUMBERS]
    + [(path, name, v, "dan") for path in ("/api/v1/trips", "/api/v1/trips/figures", "/api/v1/trips.csv")
       for name in ("from", "to") for v in ("9999-12-31", "0001-01-01", "2026-02-30", "99999-01-01")]
    + [("/api/v1/alerts", "trip_id", v, "dan") for v in HUGE_NUMBERS]
)


@pytest.mark.parametrize(("path", "name", "value", "who"), CASES)
def test_absurd_query_values_are_a_400_naming_the_parameter(client, world, path, name, value, who):
    resp = client.get(path, query_string={name: value}, headers=world.bearer(who))
    assert resp.status_code == 400, (path, name, value, resp.status_code, resp.get_data(as_text=True)[:300])
    error = resp.get_json()["error"]
    assert name in error or (name == "after" and "cursor" in error), error
