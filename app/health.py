"""What /healthz says: the database, Redis and the scheduler, each with a plain status."""

from __future__ import annotations

from app.db import ping, utcnow


def report(ext) -> tuple[dict, bool]:
    """Return the health body and whether this process can serve (its database answers)."""
    body: dict = {"status": "ok"}
    try:
        ping(ext.engine)
        body["database"] = "ok"
    except Exception as exc:  # noqa: BLE001  (any failure means "not healthy")
        body["database"] = f"unreachable: {type(exc).__name__}"
        body["status"] = "error"
    body["redis"] = _redis(ext.config.redis_url)
    flows = body["redis"] == "ok" and _queue_flows()
    body["fan_out"] = "all processes" if flows else "this process only"
    if ext.config.redis_url and not flows:
        # Still serving its own clients; only the cross-process fan-out is down (or not back yet).
        body["status"] = "degraded" if body["status"] == "ok" else body["status"]
    body["scheduler"] = _scheduler(ext)
    return body, body["database"] == "ok"


def _redis(url: str | None) -> str:
    """Ping Redis with a short timeout."""
    if not url:
        return "not configured"
    import redis

    try:
        with redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5) as client:
            client.ping()
        return "ok"
    except (redis.RedisError, OSError) as exc:
        return f"unreachable: {type(exc).__name__}"


def _queue_flows() -> bool:
    """Say whether this process's Socket.IO queue is subscribed and publishing (True if it cannot tell)."""
    from app.realtime import socketio

    manager = getattr(getattr(socketio, "server", None), "manager", None)
    check = getattr(manager, "reaches_other_processes", None)
    return check() if check is not None else True


def _scheduler(ext) -> dict:
    """Say when this process last swept, and whether that is overdue."""
    interval = ext.config.sweep_interval_s
    if interval <= 0:
        return {"status": "off"}
    last = ext.last_sweep_at
    if last is None:
        return {"status": "starting"}
    age_s = (utcnow() - last).total_seconds()
    return {"status": "ok" if age_s < max(3 * interval, 30) else "late", "last_sweep_age_s": round(age_s, 1)}
