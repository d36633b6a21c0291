"""Prometheus metrics of this process: fixes in, alerts raised, connections, ingest latency."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

registry = CollectorRegistry()
fixes_stored = Counter("escort_fixes_stored", "Fixes stored (new, not repeats)", registry=registry)
fixes_rejected = Counter("escort_fixes_rejected", "Fixes refused as invalid", registry=registry)
alerts_raised = Counter("escort_alerts_raised", "Alerts raised or updated", ["kind"], registry=registry)
ingest_seconds = Histogram("escort_ingest_seconds", "Time to store, detect and commit one batch",
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                           registry=registry)
connected = Gauge("escort_connected", "Socket.IO connections to this process", ["namespace"], registry=registry)


def exposition() -> bytes:
    """Return the metrics in Prometheus' text format."""
    from app.realtime import fanout

    connected.labels("device").set(fanout.connected["device"])
    connected.labels("dispatch").set(fanout.connected["dispatch"])
    return generate_latest(registry)
