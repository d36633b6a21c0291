"""The audit page as people read it, and the list of audit actions kept complete.

Local times to the second (``ESCORT_TIMEZONE``), details as "key: value" text, a case-insensitive
substring filter on the action, and ``app.audit.ACTIONS`` naming every action the code records.
"""

from __future__ import annotations

import ast
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from app import create_app
from app.audit import ACTIONS, record
from app.db import upgrade
from app.models import AuditEvent
from tests.conftest import _emptied_at_head, make_config
from tests.factories import login

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("app", "dispatch", "patients", "places", "tracking")


@pytest.fixture
def app(tmp_path):
    """An app whose service runs on Berlin time."""
    app = create_app(make_config(tmp_path, timezone="Europe/Berlin"))
    engine = app.extensions["escort"].engine
    if not _emptied_at_head(engine):
        upgrade(engine)
    yield app
    engine.dispose()


def _actions_in_code() -> dict[str, str]:
    """Return every action string passed to ``record()`` / ``audit.record()`` in the code, with where."""
    found: dict[str, str] = {}
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                if isinstance(f, ast.Attribute):
                    if f.attr != "record" or not (isinstance(f.value, ast.Name) and f.value.id == "audit"):
                        continue
                elif not (isinstance(f, ast.Name) and f.id == "record"):
                    continue
                arg = node.args[2] if len(node.args) > 2 else next(
                    (k.value for k in node.keywords if k.arg == "action"), None)
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                assert arg is not None, f"{where}: record() without an action"
                strings = [n.value for n in ast.walk(arg) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
                # A literal, or a choice between literals: anything else hides the action from this test.
                assert strings and all(isinstance(n, (ast.Constant, ast.IfExp, ast.Compare, ast.Name, ast.Load,
                                                      ast.Eq, ast.NotEq, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp,
                                                      ast.Not)) for n in ast.walk(arg)), \
                    f"{where}: write the audit action as a string literal so ACTIONS can be checked"
                for s in strings:
                    if isinstance(arg, ast.IfExp) and s not in (getattr(arg.body, "value", None),
                                                                 getattr(arg.orelse, "value", None)):
                        continue  # the condition's own strings (reason == "idle"), not an action
                    found.setdefault(s, where)
    return found


def test_every_recorded_action_is_listed():
    in_code = _actions_in_code()
    assert len(in_code) > 20, "the scan found the record() calls"
    missing = {a: where for a, where in in_code.items() if a not in ACTIONS}
    assert not missing, f"add these to app.audit.ACTIONS: {missing}"
    assert "trip_read" in in_code and "logout" in in_code and "logout_idle" in in_code


def test_listed_actions_are_unique_and_recorded_somewhere():
    assert len(set(ACTIONS)) == len(ACTIONS)
    assert sorted(set(ACTIONS) - set(_actions_in_code())) == []


def _add(session, world, action, detail, at):
    event = record(session, world.users["admin"], action, object_type="trip", object_id=world.trip.id, detail=detail,
                   remote_addr="10.0.0.1")
    event.at = at
    session.commit()
    return event


def test_times_are_local_to_the_second_and_details_are_words(app, world, session):
    _add(session, world, "export", {"format": "csv", "period": {"from": "2026-07-01", "to": "2026-07-02"},
                                    "fixes": [1, 2], "ok": True},
         datetime(2026, 7, 1, 8, 5, 9, 123456, tzinfo=timezone.utc))
    body = login(app.test_client(), "ada").get("/admin/audit?action=export").get_data(as_text=True)
    row = re.search(r"<tr><td><time[^>]*>([^<]*)</time>.*?</tr>", body, re.S)
    assert row and row.group(1) == "2026-07-01 10:05:09 CEST", "Berlin summer time, no microseconds"
    assert "When (Europe/Berlin)" in body
    shown = re.sub(r"<[^>]+>", " ", row.group(0))  # the text people see (the datetime attribute keeps the instant)
    assert "123456" not in shown and "08:05:09" not in shown
    assert "format: csv" in body
    assert "period: from 2026-07-01, to 2026-07-02" in body
    assert "fixes: 1, 2" in body and "ok: yes" in body
    assert "{" not in row.group(0) and "&#34;" not in row.group(0) and "[" not in row.group(0)


def test_the_action_filter_matches_any_part_in_any_case(app, world, session):
    now = datetime.now(timezone.utc)
    for action in ("patient_read", "patient_read_denied", "export"):
        _add(session, world, action, {}, now)
    web = login(app.test_client(), "ada")
    actions = lambda q: re.findall(r"</time></td><td>[^<]*</td><td>([a-z_]+)</td>",  # noqa: E731
                                   web.get(f"/admin/audit?action={q}").get_data(as_text=True))
    assert sorted(actions("READ")) == ["patient_read", "patient_read_denied"]
    assert actions("Denied") == ["patient_read_denied"]
    assert actions("xport") == ["export"]
    assert actions("%") == [] and actions("_read_d") == ["patient_read_denied"], "% and _ are letters, not wildcards"
    # The API keeps its exact match.
    api = web.get("/api/v1/audit?action=read").get_json()
    assert api["events"] == []


def test_the_action_field_offers_every_known_action(app, world):
    body = login(app.test_client(), "ada").get("/admin/audit").get_data(as_text=True)
    offered = re.findall(r'<option value="([a-z_]+)"></option>', body)
    assert offered == list(ACTIONS)
    assert re.search(r"<label>Action \(any part of it\) <input name=\"action\"", body)


def test_opening_a_trip_log_replay_is_audited(app, world, session):
    web = login(app.test_client(), "cora")
    assert web.get(f"/api/v1/trips/{world.trip.id}/replay").status_code == 200
    rows = session.exec(select(AuditEvent).where(AuditEvent.action == "trip_read")).all()
    assert [(r.username, r.object_type, r.object_id, r.detail) for r in rows] == [
        ("cora", "trip", world.trip.id, {"view": "replay"})]
    assert web.get("/api/v1/trips/999999/replay").status_code == 404
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "trip_read")).all()) == 1
