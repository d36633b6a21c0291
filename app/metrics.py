"""Prometheus metrics of this process: fixes in, alerts raised, connections, ingest latency."""

from __future__ import annotations

import hmac

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
# A device whose counter started again (storage cleared, app reinstalled, two tablets on one
# token): its fixes are stored, and counted here so the operator sees it happen.
fix_seq_reused = Counter("escort_fix_seq_reused", "New fixes reusing a seq the device sent at another time",
                         registry=registry)
# Fixes stored / groups = fixes a transaction carries (the group commit's gather at work).
ingest_groups = Counter("escort_ingest_groups", "Transactions the Socket.IO fix pipeline committed",
                        registry=registry)
alerts_raised = Counter("escort_alerts_raised", "Alerts raised or updated", ["kind"], registry=registry)
ingest_seconds = Histogram("escort_ingest_seconds", "Time to store, detect and commit one batch",
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                           registry=registry)
connected = Gauge("escort_connected", "Socket.IO connections to this process", ["namespace"], registry=registry)


LOOPBACK = ("127.0.0.1", "::1")


def refusal(request, token: str | None) -> tuple[str, int, dict] | None:
    """Return (message, status, headers) when this request may not read the metrics, else None.

    With a token, only ``Authorization: Bearer <token>`` reads them; without one, only a client
    on this machine, judged by the socket's own address (never a proxy's X-Forwarded-For).
    """
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        return ("/metrics needs Authorization: Bearer <ESCORT_METRICS_TOKEN>", 401,
                {"WWW-Authenticate": 'Bearer realm="metrics"'})
    remote = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", request.environ.get("REMOTE_ADDR"))
    # Behind nginx every request comes from loopback: one a proxy forwarded is not a local one.
    forwarded = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    if not forwarded and (remote in LOOPBACK or (remote or "").startswith("127.")):
        return None
    return "/metrics is read from this machine only; set ESCORT_METRICS_TOKEN to read it from elsewhere", 403, {}


def exposition() -> bytes:
    """Return the metrics in Prometheus' text format."""
    from app.realtime import fanout

    connected.labels("device").set(fanout.connected["device"])
    connected.labels("dispatch").set(fanout.connected["dispatch"])
    return generate_latest(registry)
