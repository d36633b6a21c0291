"""Benchmark: the full pipeline against a bare Flask-SocketIO echo server, under the same load.

Usage: python benchmarks/bench_load.py MODE [--devices N] [--dispatchers M] [--seconds S]
                                             [--interval-s I] [--targets pipeline,echo]
                                             [--route-vertices V] [--client generator|python-socketio]
                                             [--database-url postgresql+psycopg://postgres@127.0.0.1/EMPTY_DB]

MODE is one of
  throughput  N devices (default 100) each sending its next fix as soon as the last is acked;
              target: pipeline fixes/s at least 0.80 of the echo server's on SQLite,
              0.75 on PostgreSQL.
  latency     N devices (default 1000), one fix every I seconds (default 5) each (the fleet
              shape); targets: p99 from a device's emit to a dispatcher's receipt under
              500 ms, and at most 1.25x the echo server's CPU a fix.
  idle        N connected idle devices (default 5000) held by one server process;
              target: server RSS under 1 GB.

Each target is a real ``gunicorn -k gevent -w 1`` server started here: the app on a fresh
SQLite database in a temporary folder (or on ``--database-url``, which must be an empty
database: the run migrates and seeds it) with seeded devices (and trips under way, on board,
for the sending modes), and ``benchmarks/echo_server.py``. The load generator
(benchmarks/loadgen.py: raw websockets on one asyncio loop) runs in this process on the
same cores. It prints progress lines, then for each target: fixes/s acknowledged, ack
latency, emit-to-dispatcher p50/p99, server RSS and CPU per fix, and the pipeline/echo ratio.

Shapes: ``--route-vertices`` sets the seeded trips' route length (50 by default; a real
road route has hundreds), ``--client python-socketio`` sends each device's fixes through a
``socketio.AsyncClient`` awaiting each ack, as a Python tracker would, instead of the lean
raw-websocket generator; three dispatchers watch by default.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import socketio  # noqa: E402

from benchmarks.loadgen import SioConnection, http_session  # noqa: E402
from tests.live import free_port  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
DEFAULT_DEVICES = {"throughput": 100, "latency": 1000, "idle": 5000}
DEFAULT_SECONDS = {"throughput": 20.0, "latency": 40.0, "idle": 45.0}
# The route the seeded trips follow: due north from (51.50, -0.12) for about 5.5 km.
ROUTE = [[51.50 + i * 0.001, -0.12] for i in range(50)]


def make_route(vertices: int) -> list[list[float]]:
    """Return the seeded route with ``vertices`` points over the same 5.5 km, zigzagging by a metre.

    The zigzag keeps every vertex (a straight line could be simplified to two points).
    """
    if vertices == len(ROUTE):
        return ROUTE
    step = (ROUTE[-1][0] - ROUTE[0][0]) / (vertices - 1)
    return [[round(ROUTE[0][0] + i * step, 7), round(ROUTE[0][1] + (i % 2) * 1.5e-5, 7)] for i in range(vertices)]


class PySioConnection:
    """A device on python-socketio's ``AsyncClient`` (the interface of ``loadgen.SioConnection``)."""

    def __init__(self, url: str, namespace: str, auth: dict) -> None:
        self.url, self.namespace, self.auth = url, namespace, auth
        self.client = socketio.AsyncClient(reconnection=False)
        self.closed = asyncio.Event()
        self.client.on("disconnect", self.closed.set, namespace=namespace)

    async def connect(self, timeout_s: float = 30.0) -> None:
        """Connect over a websocket with the device token."""
        await self.client.connect(self.url, namespaces=[self.namespace], transports=["websocket"],
                                  auth=self.auth, wait_timeout=timeout_s)

    async def call(self, event: str, data, timeout_s: float = 60.0):
        """Emit and await the ack."""
        try:
            return await self.client.call(event, data, namespace=self.namespace, timeout=timeout_s)
        except socketio.exceptions.TimeoutError:
            raise asyncio.TimeoutError from None
        except socketio.exceptions.BadNamespaceError:
            raise ConnectionError("disconnected") from None

    async def close(self) -> None:
        """Disconnect."""
        await self.client.disconnect()
        self.closed.set()


# --- servers -------------------------------------------------------------------------------

class Server:
    """``gunicorn -k gevent -w 1 APP`` on a free port; stopped on exit."""

    def __init__(self, app_spec: str, workdir: Path, env: dict[str, str]) -> None:
        self.app_spec, self.port = app_spec, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, **env)
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        with open(self.log_path, "ab") as log:
            # --worker-connections: gunicorn's gevent worker serves at most 1,000 at once by default.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "--worker-connections", "20000",
                 "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "2", "--log-level", "warning",
                 self.app_spec],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 60 s")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def worker_pid(self) -> int:
        """Return the pid of gunicorn's one worker (the process that holds the connections)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return int(children[0]) if children else self.proc.pid

    def rss_mb(self) -> tuple[float, float]:
        """Return the worker's resident memory now and at its peak, in MB."""
        status = Path(f"/proc/{self.worker_pid()}/status").read_text()
        values = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
                  if line.startswith(("VmRSS", "VmHWM"))}
        return values["VmRSS"] / 1024, values["VmHWM"] / 1024

    def cpu_s(self) -> float:
        """Return the CPU seconds (user + system) the worker has used."""
        fields = Path(f"/proc/{self.worker_pid()}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --- seeding -------------------------------------------------------------------------------

@dataclass
class Seeded:
    """The devices and dispatcher token a run connects with."""

    devices: list[tuple[str, int]]  # (device token, device id)
    dispatcher_token: str


def seed(env: dict[str, str], count: int, *, with_trips: bool, route: list[list[float]] = ROUTE) -> Seeded:
    """Create ``count`` devices (each with an escort and a trip on board, if asked) and a dispatcher.

    The app is built here from the server's own environment, so whatever ``create_app``
    sets up for the database (migrations, keys of sealed columns) is set up the same way.
    """
    from sqlmodel import Session

    from app import create_app
    from app.auth import create_api_token, create_user
    from app.config import Config
    from app.db import upgrade
    from dispatch import trips
    from patients.models import Patient
    from tracking.devices import create_device

    app = create_app(Config.from_env(dict(os.environ, **env, ESCORT_ASYNC_MODE="threading")))
    engine = app.extensions["escort"].engine
    upgrade(engine)
    with engine.connect() as conn:
        if conn.exec_driver_sql('SELECT count(*) FROM "user"').scalar():
            raise SystemExit(f"error: {engine.url.render_as_string()} already has users; "
                             "the benchmark needs an empty database")
    now = datetime.now(timezone.utc)
    devices = []
    with Session(engine, expire_on_commit=False) as s:
        boss = create_user(s, "bench-dispatch", "dispatcher", None, now=now)
        api_token = create_api_token(s, boss, now=now)
        patient = Patient(name="Bench", contacts=[], created_at=now)
        s.add(patient)
        s.flush()
        for i in range(count):
            escort = create_user(s, f"bench-escort-{i}", "escort", None, now=now) if with_trips else None
            device, token = create_device(s, f"bench-{i}", escort, now=now)
            if with_trips:
                trip = trips.create_trip(s, patient_id=patient.id, escort=escort.username, device_id=device.id,
                                         pickup={"lat": route[0][0], "lon": route[0][1]},
                                         dropoff={"lat": route[-1][0], "lon": route[-1][1]},
                                         route=route, settings={}, scheduled_pickup_at=now, appointment_at=None,
                                         user=boss, now=now)
                for status in ("en_route_pickup", "arrived_pickup", "on_board"):
                    trips.change_status(s, trip, status, escort, now=now)
            devices.append((token, device.id))
            if i % 500 == 499:
                s.commit()
        s.commit()
    engine.dispose()
    return Seeded(devices, api_token)


# --- the load ------------------------------------------------------------------------------

@dataclass
class Tally:
    """What one target did under load, counted inside the measuring window."""

    target: str
    connected: int = 0
    refused: int = 0
    acked: int = 0
    errors: int = 0
    ack_s: list[float] = field(default_factory=list)
    deliver_s: list[float] = field(default_factory=list)
    emitted: dict[tuple[int, int], float] = field(default_factory=dict)
    delivered: set[tuple[int, int]] = field(default_factory=set)
    measuring: bool = False
    window_s: float = 0.0
    cpu_s: float = 0.0
    acked_in_window: int = 0
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    still_open: int = 0

    def on_positions(self, name: str, data) -> None:
        """Time every fix a dispatcher receives against its emit."""
        if name != "positions":
            return
        now = time.perf_counter()
        for fix in data.get("fixes", ()):
            key = (fix.get("device_id"), fix.get("seq"))
            sent = self.emitted.get(key)
            if sent is not None:
                self.deliver_s.append(now - sent)
                self.delivered.add(key)


def fix_payload(device_index: int, seq: int, ts: datetime) -> dict:
    """Return a fix moving up and down the seeded route (about 5.5 m per fix)."""
    step = seq % 800
    return {"seq": seq, "lat": round(ROUTE[0][0] + min(step, 800 - step) * 5e-5, 7),
            "lon": round(ROUTE[0][1] + (device_index % 7) * 1e-6, 7),
            "ts": ts.isoformat().replace("+00:00", "Z"), "speed_mps": 5.5, "accuracy_m": 8.0}


async def send_back_to_back(conn: SioConnection, index: int, device_id: int, tally: Tally, stop: asyncio.Event) -> None:
    """Send fixes one after another, each as soon as the previous one is acked."""
    start = datetime.now(timezone.utc) - timedelta(hours=3)
    seq = 0
    while not stop.is_set():
        seq += 1
        payload = fix_payload(index, seq, start + timedelta(seconds=seq))
        await _send(conn, device_id, payload, tally)


async def send_at_rate(conn: SioConnection, index: int, device_id: int, tally: Tally, stop: asyncio.Event,
                       interval_s: float) -> None:
    """Send one fix (stamped now) every ``interval_s``, starting at a random phase."""
    loop = asyncio.get_running_loop()
    due = loop.time() + random.uniform(0, interval_s)
    seq = 0
    while not stop.is_set():
        await asyncio.sleep(max(0.0, due - loop.time()))
        if stop.is_set():
            break
        seq += 1
        await _send(conn, device_id, fix_payload(index, seq, datetime.now(timezone.utc)), tally)
        due += interval_s


async def _send(conn: SioConnection, device_id: int, payload: dict, tally: Tally) -> None:
    """Emit one fix and count its ack (only fixes emitted inside the window are counted)."""
    counted = tally.measuring
    t0 = time.perf_counter()
    if counted:
        tally.emitted[(device_id, payload["seq"])] = t0
    try:
        ack = await conn.call("fix", payload)
    except (ConnectionError, asyncio.TimeoutError):
        tally.errors += 1
        await asyncio.sleep(1.0)
        return
    if not (isinstance(ack, dict) and ack.get("ok")):
        tally.errors += 1
        return
    if counted:
        tally.ack_s.append(time.perf_counter() - t0)
        tally.acked += 1


async def connect_all(http, url: str, seeded: Seeded, devices: int, dispatchers: int, tally: Tally,
                      parallel: int = 50, client: str = "generator") -> tuple[list, list[SioConnection]]:
    """Connect the dispatchers, then the devices ``parallel`` at a time, printing progress."""
    watchers = []
    for _ in range(dispatchers):
        conn = SioConnection(http, url, "/dispatch", {"token": seeded.dispatcher_token}, tally.on_positions)
        await conn.connect()
        watchers.append(conn)
    gate = asyncio.Semaphore(parallel)
    conns: list[SioConnection | None] = [None] * devices
    began = time.perf_counter()

    async def one(i: int) -> None:
        token, device_id = seeded.devices[i]
        auth = {"token": token, "device_id": device_id}
        conn = PySioConnection(url, "/device", auth) if client == "python-socketio" else \
            SioConnection(http, url, "/device", auth)
        async with gate:
            try:
                await conn.connect()
            except Exception as exc:  # noqa: BLE001  (counted and reported; the run goes on)
                tally.refused += 1
                if tally.refused <= 3:
                    print(f"    connect failed: {exc!r}", flush=True)
                return
        conns[i] = conn
        tally.connected += 1
        if tally.connected % 1000 == 0:
            print(f"    {tally.connected} devices connected ({time.perf_counter() - began:.1f} s)", flush=True)

    await asyncio.gather(*(one(i) for i in range(devices)))
    return [c for c in conns if c is not None], watchers


async def drive(server: Server, seeded: Seeded, args, target: str) -> Tally:
    """Connect, load the server for the warm-up and the window, and count."""
    tally = Tally(target)
    async with http_session() as http:
        began = time.perf_counter()
        conns, watchers = await connect_all(http, server.url, seeded, args.devices, args.dispatchers, tally,
                                            client=args.client)
        print(f"  [{target}] {tally.connected} devices and {len(watchers)} dispatchers connected in "
              f"{time.perf_counter() - began:.1f} s ({tally.refused} refused)", flush=True)
        stop = asyncio.Event()
        index = {device_id: i for i, (_, device_id) in enumerate(seeded.devices)}
        senders = []
        if args.mode != "idle":
            for conn in conns:
                device_id = conn.auth["device_id"]
                if args.mode == "throughput":
                    job = send_back_to_back(conn, index[device_id], device_id, tally, stop)
                else:
                    job = send_at_rate(conn, index[device_id], device_id, tally, stop, args.interval_s)
                senders.append(asyncio.create_task(job))
        await asyncio.sleep(args.warmup_s)
        tally.measuring, cpu0, t0 = True, server.cpu_s(), time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < args.seconds:
            await asyncio.sleep(min(5.0, args.seconds - elapsed))
            rss, _ = server.rss_mb()
            open_now = sum(not c.closed.is_set() for c in conns)
            print(f"  [{target}] {time.perf_counter() - t0:5.1f} s: {tally.acked} fixes acked "
                  f"({tally.acked / (time.perf_counter() - t0):,.0f}/s), {len(tally.deliver_s)} receipts, "
                  f"{open_now} open, server RSS {rss:.0f} MB, CPU {server.cpu_s() - cpu0:.1f} s", flush=True)
        tally.measuring = False
        tally.window_s, tally.cpu_s, tally.acked_in_window = time.perf_counter() - t0, server.cpu_s() - cpu0, tally.acked
        tally.rss_mb, tally.peak_rss_mb = server.rss_mb()
        tally.still_open = sum(not c.closed.is_set() for c in conns)
        stop.set()
        await asyncio.sleep(1.5)  # fixes in flight reach the dispatchers (positions are batched every 0.25 s)
        for task in senders:
            task.cancel()
        await asyncio.gather(*(c.close() for c in conns + watchers), return_exceptions=True)
    return tally


# --- reporting -----------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of values in ms, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))] * 1000 if ordered else float("nan")


def describe(t: Tally) -> list[str]:
    """Return the figures of one target as printable lines."""
    rate = t.acked_in_window / t.window_s if t.window_s else 0.0
    lines = [f"{t.target}: {t.connected} devices connected ({t.refused} refused), {t.still_open} still open at the end"]
    if t.acked_in_window:
        lost = len(set(t.emitted) - t.delivered)
        lines += [
            f"  fixes acked: {t.acked_in_window} in {t.window_s:.1f} s = {rate:,.0f} fixes/s  ({t.errors} errors)",
            f"  ack latency: p50 {pct(t.ack_s, 0.5):.1f} ms  p99 {pct(t.ack_s, 0.99):.1f} ms",
            f"  emit to dispatcher: p50 {pct(t.deliver_s, 0.5):.1f} ms  p99 {pct(t.deliver_s, 0.99):.1f} ms  "
            f"max {max(t.deliver_s) * 1000 if t.deliver_s else float('nan'):.1f} ms  "
            f"({len(t.deliver_s)} receipts; {lost} of {len(t.emitted)} fixes never reached a dispatcher)",
            f"  server CPU: {t.cpu_s:.1f} s = {t.cpu_s / t.window_s * 100:.0f}% of a core, "
            f"{t.cpu_s / t.acked_in_window * 1000:.2f} ms per fix",
        ]
    lines.append(f"  server worker RSS: {t.rss_mb:.0f} MB now, {t.peak_rss_mb:.0f} MB peak")
    return lines


# Issue #17's targets: throughput at least this share of the echo server's (by database), and in
# the fleet shape (latency mode) at most this multiple of the echo server's CPU a fix.
THROUGHPUT_TARGET = {"sqlite": 0.80, "postgresql": 0.75}
FLEET_CPU_TARGET = 1.25


def verdict(mode: str, tallies: dict[str, Tally], database: str = "sqlite") -> list[str]:
    """Return the comparison and the target of the mode, met or not."""
    pipe, echo = tallies.get("pipeline"), tallies.get("echo")
    out = []
    if pipe and echo and pipe.acked_in_window and echo.acked_in_window:
        ratio = (pipe.acked_in_window / pipe.window_s) / (echo.acked_in_window / echo.window_s)
        target = THROUGHPUT_TARGET[database]
        out.append(f"pipeline/echo throughput ratio: {ratio:.2f}" + (
            f"  (target >= {target:.2f} on {database}: {'met' if ratio >= target else 'NOT met'})"
            if mode == "throughput" else ""))
        cpu = (pipe.cpu_s / pipe.acked_in_window) / (echo.cpu_s / echo.acked_in_window) if echo.cpu_s else float("nan")
        out.append(f"pipeline/echo CPU a fix: {cpu:.2f}x" + (
            f"  (target <= {FLEET_CPU_TARGET:.2f}x: {'met' if cpu <= FLEET_CPU_TARGET else 'NOT met'})"
            if mode == "latency" else ""))
    if pipe and echo:
        out.append(f"pipeline/echo RSS: {pipe.rss_mb:.0f} / {echo.rss_mb:.0f} MB")
    if pipe and mode == "latency" and pipe.deliver_s:
        p99 = pct(pipe.deliver_s, 0.99)
        out.append(f"pipeline emit-to-dispatcher p99 {p99:.0f} ms (target < 500 ms: {'met' if p99 < 500 else 'NOT met'})")
    if pipe and mode == "idle":
        held = pipe.refused == 0 and pipe.still_open == pipe.connected
        met = held and pipe.peak_rss_mb < 1024
        out.append(f"pipeline holding {pipe.still_open} of {pipe.connected + pipe.refused} idle devices in "
                   f"{pipe.peak_rss_mb:.0f} MB peak RSS (target < 1 GB with all held: {'met' if met else 'NOT met'})")
    return out


def raise_open_files() -> int:
    """Raise this process's open-file limit to its hard maximum (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def main() -> None:
    """Parse the mode, seed, run each target in turn, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("mode", choices=sorted(DEFAULT_DEVICES))
    parser.add_argument("--devices", type=int, default=None, help="simulated devices (default by mode)")
    parser.add_argument("--dispatchers", type=int, default=3, help="dispatcher clients receiving positions")
    parser.add_argument("--seconds", type=float, default=None, help="measuring window (default by mode)")
    parser.add_argument("--warmup-s", type=float, default=3.0)
    parser.add_argument("--interval-s", type=float, default=5.0, help="latency mode: seconds between a device's fixes")
    parser.add_argument("--targets", default="echo,pipeline", help="which servers, in order (echo, pipeline)")
    parser.add_argument("--database-url", default=None,
                        help="an empty database to run the pipeline on (default: a fresh SQLite file)")
    parser.add_argument("--route-vertices", type=int, default=len(ROUTE),
                        help=f"vertices of the seeded trips' route (default {len(ROUTE)})")
    parser.add_argument("--client", choices=("generator", "python-socketio"), default="generator",
                        help="devices on the raw-websocket generator, or python-socketio clients awaiting each ack")
    parser.add_argument("--sweep-interval-s", default=None,
                        help="the app's ESCORT_SWEEP_INTERVAL_S (default: the app's own; 0 turns the timers off)")
    args = parser.parse_args()
    args.devices = args.devices or DEFAULT_DEVICES[args.mode]
    args.seconds = args.seconds or DEFAULT_SECONDS[args.mode]
    limit = raise_open_files()
    if limit < args.devices * 2 + 100:
        raise SystemExit(f"error: the open-file limit is {limit}; {args.devices} devices need {args.devices * 2 + 100}")
    tmp = Path(tempfile.mkdtemp(prefix="escort-bench-load-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    sweep = "app default" if args.sweep_interval_s is None else f"{args.sweep_interval_s} s"
    if args.route_vertices < 2:
        raise SystemExit("error: --route-vertices must be at least 2")
    print(f"mode {args.mode}: {args.devices} {args.client} devices, {args.dispatchers} dispatchers, "
          f"{args.route_vertices}-vertex routes, {args.seconds:g} s window, "
          f"scheduler sweep {sweep}; database {url.split('@')[-1]}; "
          f"{os.cpu_count()} cores shared with the load generator; work dir {tmp}", flush=True)
    began = time.perf_counter()
    app_env = {"DATABASE_URL": url, "SECRET_KEY": "bench-load-secret-0123456789abcdef",
               "ESCORT_INSTANCE_PATH": str(tmp), "ESCORT_TILE_URL": ""}
    if args.sweep_interval_s is not None:
        app_env["ESCORT_SWEEP_INTERVAL_S"] = str(args.sweep_interval_s)
    seeded = seed(app_env, args.devices, with_trips=args.mode != "idle", route=make_route(args.route_vertices))
    print(f"  seeded {args.devices} devices in {time.perf_counter() - began:.1f} s", flush=True)
    specs = {"pipeline": ("app:create_app()", app_env), "echo": ("benchmarks.echo_server:app", {})}
    tallies: dict[str, Tally] = {}
    for target in targets:
        spec, env = specs[target]
        with Server(spec, tmp, env) as server:
            print(f"  [{target}] serving on {server.url} (worker pid {server.worker_pid()})", flush=True)
            tallies[target] = asyncio.run(drive(server, seeded, args, target))
    print()
    for target in targets:
        for line in describe(tallies[target]):
            print(line)
    for line in verdict(args.mode, tallies, "postgresql" if url.startswith("postgresql") else "sqlite"):
        print(line)
    print(f"load generator CPU: {sum(resource.getrusage(resource.RUSAGE_SELF)[:2]):.1f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
