"""``escort evaluate``: replay recorded traces in scenarios through the server's own pipeline."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlmodel import Session, select

from tracking.detectors import DetectionSettings
from tracking.fix import Fix
from tracking.traces import (
    Injected,
    add_noise,
    inject_detour,
    inject_stop,
    read_trace,
    resample,
)

DETECTED = ("deviation", "stop")


@dataclass(frozen=True)
class Scenario:
    """One way of replaying a trace, what it should raise, and how soon."""

    name: str
    injected: Injected
    expected: str | None
    limit_s: float | None


@dataclass(frozen=True)
class Row:
    """One scenario's outcome."""

    trace: str
    scenario: str
    expected: str | None
    raised: tuple[str, ...]
    delay_s: float | None
    resolved: bool
    ok: bool

    def line(self) -> str:
        """Return the row as the command prints it."""
        delay = f"{self.delay_s:6.1f}" if self.delay_s is not None else "     -"
        raised = ",".join(self.raised) or "-"
        verdict = "ok" if self.ok else "FAIL"
        return f"{self.trace[:34]:34} {self.scenario:30} {self.expected or '-':10} {raised:20} {delay}  {verdict}"


HEADER = f"{'trace':34} {'scenario':30} {'expected':10} {'raised':20} {'delay s':>6}  verdict"


def scenarios_for(fixes: list[Fix], settings: DetectionSettings) -> list[Scenario]:
    """Return the evaluation's scenarios for one recorded drive."""
    sparse = resample(fixes, 15.0)
    return [
        Scenario("as recorded", Injected(fixes), None, None),
        Scenario("detour 300 m, as sampled", inject_detour(fixes, 300, corridor_m=settings.corridor_m), "deviation", 20),
        Scenario("detour 600 m, as sampled", inject_detour(fixes, 600, corridor_m=settings.corridor_m), "deviation", 20),
        Scenario(f"stop {int(settings.stop_after_s + 120)} s", inject_stop(
            fixes, settings.stop_after_s + 120, stop_after_s=settings.stop_after_s), "stop", 15),
        Scenario("15-s sampling", Injected(sparse), None, None),
        Scenario("15-s sampling, detour 300 m", inject_detour(sparse, 300, corridor_m=settings.corridor_m),
                 "deviation", 45),
        Scenario("jitter 8 m + multipath jumps", Injected(add_noise(fixes)), None, None),
    ]


class Replayer:
    """A temporary database and app, and trips to replay fixes into through ``ingest.accept``."""

    def __init__(self, workdir: Path) -> None:
        from app import create_app
        from app.auth import create_user
        from app.config import Config
        from app.db import upgrade, utcnow
        from patients.models import Patient

        cfg = Config(database_url=f"sqlite:///{workdir / 'evaluate.db'}", secret_key="evaluation-only-secret-key",
                     async_mode="threading", instance_path=workdir, tile_url="", testing=True)
        self.app = create_app(cfg)
        self.engine = self.app.extensions["escort"].engine
        upgrade(self.engine)
        self.session = Session(self.engine, expire_on_commit=False)
        now = utcnow()
        self.dispatcher = create_user(self.session, "evaluator", "dispatcher", None, now=now)
        self.patient = Patient(name="Evaluation", contacts=[], created_at=now)
        self.session.add(self.patient)
        self.session.commit()
        self.count = 0

    def trip(self, route: list[Fix], settings: dict | None = None):
        """Create a device and a trip on board along ``route``; return (device, trip)."""
        from app.db import utcnow
        from dispatch import trips
        from tracking.devices import create_device

        self.count += 1
        now = route[0].ts  # the replayed trip is planned as the drive starts, in the trace's own time
        device, _ = create_device(self.session, f"eval-{self.count}", None, now=now)
        points = [[f.lat, f.lon] for f in route]
        trip = trips.create_trip(
            self.session, patient_id=self.patient.id, escort=None, device_id=device.id,
            pickup={"lat": points[0][0], "lon": points[0][1], "radius_m": 60},
            dropoff={"lat": points[-1][0], "lon": points[-1][1], "radius_m": 60}, route=points,
            settings=settings or {}, scheduled_pickup_at=route[0].ts, appointment_at=None,
            user=self.dispatcher, now=now)
        for status in ("assigned", "en_route_pickup", "arrived_pickup", "on_board"):
            trips.change_status(self.session, trip, status, self.dispatcher, now=now)
        self.session.commit()
        return device, trip

    def replay(self, device, fixes: list[Fix], batch: int = 1) -> None:
        """Feed fixes through the pipeline, ``batch`` at a time, each as if it had just arrived."""
        from dispatch import ingest

        with self.app.app_context():
            for i in range(0, len(fixes), batch):
                chunk = fixes[i:i + batch]
                ingest.accept(self.session, device, chunk, now=chunk[-1].ts + timedelta(seconds=1))

    def alerts(self, trip) -> list:
        """Return the trip's alerts, oldest first."""
        from dispatch.models import Alert

        self.session.expire_all()
        return list(self.session.exec(select(Alert).where(Alert.trip_id == trip.id).order_by(Alert.id)).all())

    def close(self) -> None:
        """Release the database."""
        self.session.close()
        self.engine.dispose()


def evaluate(paths: list[Path], echo: Callable[[str], None] = print, workdir: Path | None = None) -> list[Row]:
    """Run every scenario of every trace; print and return one row each."""
    settings = DetectionSettings()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="escort-eval-") as tmp:
        replayer = Replayer(workdir or Path(tmp))
        try:
            echo(HEADER)
            for path in paths:
                recorded = read_trace(path)
                for scenario in scenarios_for(recorded, settings):
                    rows.append(_run(replayer, path.name, recorded, scenario))
                    echo(rows[-1].line())
        finally:
            replayer.close()
    return rows


def _run(replayer: Replayer, trace: str, recorded: list[Fix], scenario: Scenario) -> Row:
    """Replay one scenario on a fresh trip whose planned route is the drive as recorded."""
    device, trip = replayer.trip(recorded)
    replayer.replay(device, scenario.injected.fixes)
    found = [a for a in replayer.alerts(trip) if a.kind in DETECTED]
    raised = tuple(a.kind for a in found)
    delay = resolved = None
    if scenario.expected:
        hits = [a for a in found if a.kind == scenario.expected]
        if hits and scenario.injected.event_at is not None:
            delay = (hits[0].raised_at - _aware(scenario.injected.event_at)).total_seconds()
            resolved = hits[0].resolved_at is not None
        ok = (raised == (scenario.expected,) and delay is not None and -1 <= delay <= scenario.limit_s
              and bool(resolved))
    else:
        ok = not raised
    return Row(trace, scenario.name, scenario.expected, raised, delay, bool(resolved), ok)


def _aware(value: datetime) -> datetime:
    """Return an aware datetime (traces are UTC)."""
    from datetime import timezone

    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
