"""The commands a newcomer types, run as they type them: the installed ``escort`` in an empty folder, clean environment.

No fixture seeds anything first: each test starts from a folder with nothing in it and an
environment with no settings, exactly as the README's first command meets a new machine.
These run once, in the SQLite pass: the embedded default is what a newcomer gets.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from app import demo_data
from tests.live import free_port

ESCORT = Path(sys.executable).with_name("escort")
# Every demo patient's sensitive fields: none of them may reach the command's output or its logs.
SENSITIVE = sorted({str(v) for p in demo_data.PATIENTS for k, v in p.items()
                    if k in ("date_of_birth", "dispatcher_notes", "escort_notes", "home_address")} |
                   {c for p in demo_data.PATIENTS for c in p.get("conditions", [])})


@pytest.fixture(autouse=True)
def _embedded_pass_only():
    """Run in the SQLite pass only (the PostgreSQL pass would repeat the same SQLite run)."""
    if os.environ.get("ESCORT_TEST_DATABASE_URL", "").startswith("postgresql"):
        pytest.skip("first-run tests run once, in the SQLite pass")
    assert ESCORT.exists(), f"the installed command {ESCORT} is missing: pip install -e ."


def clean_env(**extra: str) -> dict[str, str]:
    """Return an environment with none of the project's settings: PATH, HOME and ``extra`` only."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8", **extra}


def run(folder: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    """Run ``escort ARGS`` in ``folder`` and wait for it."""
    return subprocess.run([str(ESCORT), *args], cwd=folder, env=clean_env(**env), input=stdin,
                          capture_output=True, text=True, timeout=120)


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    """Wait for /healthz to answer 200, or fail with what the command printed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"no /healthz within {timeout_s} s:\n{log.read_text()[-3000:]}")


def login(url: str, username: str, password: str) -> requests.Session:
    """Log in through the login form, as a browser does; return the session."""
    http = requests.Session()
    form = http.get(f"{url}/login", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = http.post(f"{url}/login", data={"csrf_token": token, "username": username, "password": password},
                       timeout=10, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:500]
    return http


def interrupt(proc: subprocess.Popen) -> int:
    """Press Ctrl-C: SIGINT to the command's whole process group, as a terminal does; return its exit."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def test_demo_from_an_empty_folder_shows_a_deviation_and_a_stop_and_stops_on_ctrl_c(tmp_path):
    folder = tmp_path / "newcomer"
    folder.mkdir()
    port, speedup = free_port(), 20
    log = tmp_path / "demo.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(ESCORT), "demo", "--port", str(port), "--speedup", str(speedup)], cwd=folder,
                                env=clean_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        dispatcher = login(url, "dispatch", demo_data.DEMO_PASSWORD)
        # The README's promise: within about two minutes (130 s of simulated time), plus start-up.
        deadline = time.monotonic() + 130 / speedup + 30
        kinds: set[str] = set()
        while time.monotonic() < deadline and not {"deviation", "stop"} <= kinds:
            kinds = {a["kind"] for a in dispatcher.get(f"{url}/api/v1/alerts?open=1", timeout=5).json()}
            time.sleep(0.5)
        assert {"deviation", "stop"} <= kinds, (kinds, log.read_text()[-3000:])
    finally:
        code = interrupt(proc)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert f"http://127.0.0.1:{port}" in output and "stopping" in output
    leaked = [value for value in SENSITIVE if value in output]
    assert not leaked, f"patient fields in the demo's output: {leaked}"
    instance = folder / "instance"
    for name in ("data_keys", "secret_key"):
        assert (instance / name).stat().st_mode & 0o077 == 0, f"{name} is readable by others"


def test_demo_twice_in_the_same_folder_serves_again(tmp_path):
    folder = tmp_path / "again"
    folder.mkdir()
    for _ in range(2):
        port = free_port()
        log = tmp_path / f"demo-{port}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([str(ESCORT), "demo", "--port", str(port), "--no-simulator"], cwd=folder,
                                    env=clean_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc, log)
            trips = login(f"http://127.0.0.1:{port}", "dispatch", demo_data.DEMO_PASSWORD).get(
                f"http://127.0.0.1:{port}/api/v1/trips?status=on_board", timeout=5).json()["trips"]
            assert len(trips) == 3
        finally:
            assert interrupt(proc) == 0, log.read_text()[-3000:]


def _seqs(http: requests.Session, url: str, trip_id: int) -> list[int]:
    """Return the seqs of a trip's stored track (its CSV export)."""
    lines = http.get(f"{url}/api/v1/trips/{trip_id}/track.csv", timeout=10).text.splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines if line]


def test_demo_run_again_in_the_same_folder_stores_the_new_drives(tmp_path):
    """The simulator counts from seq 1 again on the same devices: the second run's fixes are new ones (#17)."""
    folder = tmp_path / "twice"
    folder.mkdir()
    for run_no in (1, 2):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = tmp_path / f"demo-{run_no}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([str(ESCORT), "demo", "--port", str(port), "--speedup", "20"], cwd=folder,
                                    env=clean_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_healthy(url, proc, log)
            dispatcher = login(url, "dispatch", demo_data.DEMO_PASSWORD)
            trips = dispatcher.get(f"{url}/api/v1/trips?status=on_board", timeout=5).json()["trips"]
            assert len(trips) == 3
            if run_no == 2:
                # Signal lost after 30 s rather than 3 minutes, so the test need not wait that long.
                with sqlite3.connect(folder / "instance" / "escort.db", timeout=30) as db:
                    db.execute("UPDATE trip SET settings = json_set(settings, '$.signal_lost_after_s', 30) "
                               "WHERE status = 'on_board'")
            # Run 1 drives past seq 200 on every device; run 2's first fixes reuse those seqs.
            wanted = 200 if run_no == 1 else 10
            deadline = time.monotonic() + 60
            seqs = {t["id"]: [] for t in trips}
            while time.monotonic() < deadline and not all(len(s) >= wanted for s in seqs.values()):
                seqs = {t["id"]: _seqs(dispatcher, url, t["id"]) for t in trips}
                time.sleep(1)
            assert all(len(s) >= wanted for s in seqs.values()), ({k: len(v) for k, v in seqs.items()},
                                                                   log.read_text()[-3000:])
            if run_no == 2:
                assert all(set(range(1, 11)) <= set(s) for s in seqs.values())
                started = min(datetime.fromisoformat(t["started_at"]) for t in trips)
                time.sleep(max(0.0, (started + timedelta(seconds=40) - datetime.now(timezone.utc)).total_seconds()))
                kinds = {(a["trip_id"], a["kind"]) for a in dispatcher.get(f"{url}/api/v1/alerts", timeout=5).json()}
                assert not {k for k in kinds if k[1] == "signal_lost"}, kinds
        finally:
            assert interrupt(proc) == 0, log.read_text()[-3000:]


def test_db_upgrade_users_create_and_serve_from_an_empty_folder(tmp_path):
    folder = tmp_path / "install"
    folder.mkdir()
    upgraded = run(folder, "db", "upgrade")
    assert upgraded.returncode == 0 and "up to date" in upgraded.stdout, upgraded.stderr
    created = run(folder, "users", "create", "dana", "--role", "dispatcher", "--password-stdin",
                  stdin="a-long-password\n")
    assert created.returncode == 0 and "created dispatcher dana" in created.stdout, created.stderr
    refused = run(folder, "serve", "--port", str(free_port()))
    assert refused.returncode == 1 and "SECRET_KEY" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr

    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(ESCORT), "serve", "--port", str(port)], cwd=folder,
                                env=clean_env(SECRET_KEY="a-secret-of-the-new-site-0123456789"),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        dana = login(url, "dana", "a-long-password")
        assert dana.get(f"{url}/api/v1/alerts", timeout=5).json() == []
    finally:
        code = interrupt(proc)
    assert code == 0, log.read_text()[-3000:]
    assert (folder / "instance" / "escort.db").exists()


@pytest.mark.parametrize("args,env,stdin,words", [
    (["demo", "--no-simulator"], {"ESCORT_DATA_KEYS": "not-a-key"}, "", "ESCORT_DATA_KEYS"),
    (["users", "create", "x", "--role", "escort"], {}, "", "escort db upgrade"),
    (["serve"], {"ESCORT_TIMEZONE": "Mars/Olympus"}, "", "ESCORT_TIMEZONE"),
    (["demo"], {"DATABASE_URL": "mysql://x@y/z"}, "", "DATABASE_URL"),
    (["purge", "--older-than", "0"], {}, "", "older-than"),
])
def test_every_failure_is_one_line_and_a_non_zero_exit(tmp_path, args, env, stdin, words):
    result = run(tmp_path, *args, stdin=stdin, **env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
