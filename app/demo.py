"""``escort demo``: seed the embedded database, serve it, and drive three simulated escorts."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Callable

from sqlmodel import Session, select

from app.config import GUNICORN_SAFE_LOGGING, Config, instance_secret
from app.db import make_engine, upgrade, utcnow
from app import crypto, demo_data
from dispatch import routes
from places.embedded import EmbeddedGeocoder, EmbeddedRouter
from places.geocoding import Geocoder, Place
from places.routing import Router
from tracking.simulator import Scenario

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when its parent dies


DEMO_RADIUS_M = 60.0


def _place(geocoder: Geocoder, address: str) -> Place:
    """Return the first candidate of a demo address (the demo's addresses are known to the index)."""
    found = geocoder.search(address, limit=1)
    if not found:
        raise SystemExit(f"error: the demo address {address!r} is not in the embedded address index")
    return found[0]


def plan_trips(geocoder: Geocoder, router: Router) -> list[dict]:
    """Geocode the demo's typed addresses and route them: each trip with its places, route and scenario."""
    planned = []
    for spec in demo_data.TRIPS:
        pickup, dropoff = _place(geocoder, spec["pickup"]), _place(geocoder, spec["dropoff"])
        route = router.route([(pickup.lat, pickup.lon), (dropoff.lat, dropoff.lon)])
        planned.append({**spec, "pickup": pickup, "dropoff": dropoff, "route": route,
                        "scenario": Scenario(route=tuple(route.points), **spec["scenario"])})
    return planned


def seed(session: Session, *, now, places_dir: Path) -> list[tuple[str, object]]:
    """Create the demo users and patients once, and three fresh trips with new device tokens.

    The trips' places are typed addresses, geocoded and routed by the embedded engine (its
    cache in ``places_dir``). Returns (device token, scenario) pairs for the simulator.
    Earlier demo trips are cancelled so that each run starts a clean show.
    """
    planned = plan_trips(EmbeddedGeocoder(None, places_dir), EmbeddedRouter(None, places_dir))
    from app.auth import create_user, hash_token, new_token
    from app.models import User
    from dispatch import trips as trips_mod
    from dispatch.models import Trip
    from patients.models import Patient
    from tracking.models import Device

    users = {u.username: u for u in session.exec(select(User)).all()}
    for spec in demo_data.USERS:
        if spec["username"] not in users:
            users[spec["username"]] = create_user(session, spec["username"], spec["role"],
                                                  demo_data.DEMO_PASSWORD, now=now)
    dispatcher = users[next(u["username"] for u in demo_data.USERS if u["role"] == "dispatcher")]
    for old in session.exec(select(Trip).where(Trip.status.not_in(trips_mod.TERMINAL))).all():
        old.status, old.ended_at, old.updated_at = "cancelled", now, now
        session.add(old)
    from patients import sheet
    from patients.schemas import PatientCreate

    coordinator = next(u["username"] for u in demo_data.USERS if u["role"] == "coordinator")
    patients = []
    for spec in demo_data.PATIENTS:
        patient = Patient(name=spec["name"], created_at=now)
        sheet.apply(session, patient, PatientCreate.model_validate({**spec, "coordinator": coordinator}), now=now)
        patients.append(patient)
    session.add_all(patients)
    session.flush()
    out = []
    for spec in planned:
        escort = users[spec["escort"]]
        label = f"demo-{escort.username}"
        device = session.exec(select(Device).where(Device.label == label)).first()
        token = new_token("esd")
        if device is None:
            device = Device(label=label, escort_user_id=escort.id, created_at=now)
        device.token_hash = hash_token(token)
        session.add(device)
        session.flush()
        pickup, dropoff = spec["pickup"], spec["dropoff"]
        trip = trips_mod.create_trip(
            session, patient_id=patients[spec["patient_index"]].id, escort=escort.username, device_id=device.id,
            pickup={"lat": pickup.lat, "lon": pickup.lon, "radius_m": DEMO_RADIUS_M, "address": pickup.label},
            dropoff={"lat": dropoff.lat, "lon": dropoff.lon, "radius_m": DEMO_RADIUS_M, "address": dropoff.label},
            route=[],
            settings=spec["settings"], scheduled_pickup_at=now, appointment_at=now + timedelta(minutes=40),
            user=dispatcher, now=now,
        )
        routes.store(session, trip, spec["route"], "embedded", now=now)
        for status in ("en_route_pickup", "arrived_pickup", "on_board"):
            trips_mod.change_status(session, trip, status, escort, now=now)
        out.append((token, spec["scenario"]))
    session.commit()
    return out


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Wait until the server answers /healthz, or fail with its exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"error: the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("error: the server did not start within 30 s")


def _own_session_dying_with_parent() -> None:
    """In the server's child process: a session of its own, and SIGTERM when the demo dies (Linux)."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the demo's own finally still stops the server
        pass


def _interrupt(_signum, _frame) -> None:
    """Turn SIGTERM into the same clean stop as Ctrl-C."""
    raise KeyboardInterrupt


def run_demo(*, port: int, speedup: float, simulator: bool, echo: Callable[[str], None]) -> None:
    """Seed, serve on 127.0.0.1:PORT with gunicorn (gevent), simulate, and stop on Ctrl-C."""
    from app import simclient
    from tracking.simulator import generate

    cfg = Config.from_env()
    # The demo seeds sealed patient sheets: the keyring must be in place before the first write.
    crypto.install(crypto.keyring_for(cfg.data_keys, cfg.instance_path))
    engine = make_engine(cfg.database_url)
    upgrade(engine)
    with Session(engine, expire_on_commit=False) as session:
        pairs = seed(session, now=utcnow(), places_dir=cfg.instance_path / "places")
    env = dict(os.environ, SECRET_KEY=cfg.secret_key or instance_secret(cfg.instance_path),
               DATABASE_URL=cfg.database_url, ESCORT_INSTANCE_PATH=str(cfg.instance_path))
    url = f"http://127.0.0.1:{port}"
    # The server gets a session of its own, so Ctrl-C reaches only this command, which then stops
    # the server gracefully (a worker hit by SIGINT itself prints a traceback on its way out).
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}",
                             "--graceful-timeout", "3", "--log-level", "warning", *GUNICORN_SAFE_LOGGING,
                             "app:create_app()"], env=env, preexec_fn=_own_session_dying_with_parent)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, _interrupt)  # stop as cleanly on SIGTERM as on Ctrl-C
    try:
        _wait_healthy(url, proc)
        echo(f"Escort Dispatch demo on {url}  (database: {cfg.database_url})")
        echo(f"  log in as dispatcher 'dispatch', escorts 'alice' 'bob' 'carol', coordinator 'coord', "
             f"admin 'admin'; password '{demo_data.DEMO_PASSWORD}' (demo only)")
        if simulator:
            echo(f"  simulating 3 escorts at {speedup:g}x: one leaves its route, one stops for minutes. Ctrl-C stops.")
            drivers = [simclient.Driver(token, generate(scenario, utcnow(), seed=i + 1))
                       for i, (token, scenario) in enumerate(pairs)]
            # The escorts stay parked at the drop-off, still reporting, until Ctrl-C.
            simclient.run(url, drivers, speedup=speedup, progress=echo, stop_event=stop, linger_s=10.0)
            if stop.is_set():  # the simulator took the Ctrl-C: stop the server too
                raise KeyboardInterrupt
        while proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        echo("stopping…")
    finally:
        stop.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
