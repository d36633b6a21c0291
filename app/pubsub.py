"""The Socket.IO message queue between processes (Redis), which never stalls a process's own clients."""

from __future__ import annotations

import logging
import time

import socketio

log = logging.getLogger(__name__)


def queue_options(redis_url: str | None, channel: str) -> dict:
    """Return the ``SocketIO.init_app`` options for the message queue (none without ``REDIS_URL``)."""
    if not redis_url:
        return {"message_queue": None}
    if redis_url.startswith(("redis://", "rediss://", "unix://")):
        return {"client_manager": RedisQueue(redis_url, channel=channel)}
    return {"message_queue": redis_url, "channel": channel}  # another broker: Flask-SocketIO's own


class RedisQueue(socketio.RedisManager):
    """Redis pub/sub between the processes; a Redis that is gone or hangs never stalls this one.

    Emitting serves this process's own clients first, then publishes for the others.
    python-socketio's publish waits for Redis with redis-py's timeouts and retries: a Redis
    that stops answering (a network cut with no reset) would hold every emit, and with it the
    positions fan-out to this process's own screens, for many seconds each time. Here a
    publish waits at most ``timeout_s`` with no retry, and after a failure publishing pauses
    for ``pause_s``: those messages could not reach the other processes anyway. The subscriber
    reconnects by itself, at most ``max_retry_s`` apart (python-socketio backs off to 60 s),
    and publishing resumes as soon as it has, so the fan-out between processes heals within
    seconds once Redis is back.
    """

    def __init__(self, url: str, channel: str, timeout_s: float = 1.0, pause_s: float = 5.0,
                 max_retry_s: float = 2.0) -> None:
        super().__init__(url, channel=channel)
        self.timeout_s = timeout_s
        self.pause_s = pause_s
        self.max_retry_s = max_retry_s
        self.subscribed = False
        self._publisher = None
        self._paused_until = 0.0

    def reaches_other_processes(self) -> bool:
        """Say whether messages flow both ways: subscribed, and publishing not paused by a failure."""
        return self.subscribed and time.monotonic() >= self._paused_until

    def _publish(self, data):
        """Publish to the other processes, or drop the message while Redis is away."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        if time.monotonic() < self._paused_until:
            return None
        try:
            if self._publisher is None:
                self._publisher = redis.Redis.from_url(
                    self.redis_url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s,
                    retry=Retry(NoBackoff(), 0),
                )
            return self._publisher.publish(self.channel, self.json.dumps(data))
        except (redis.RedisError, OSError) as exc:
            self._paused_until = time.monotonic() + self.pause_s
            log.warning("Redis publish failed (%s: %s): other processes miss messages for %.0f s",
                        type(exc).__name__, exc, self.pause_s)
            return None

    def _redis_listen_with_retries(self):
        """Yield what arrives on the channel; after a failure subscribe again, waiting at most ``max_retry_s``."""
        retry_s = 0.5
        while True:
            try:
                if not self.subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    self.subscribed, retry_s = True, 0.5
                    self._paused_until = 0.0  # Redis is back: publish again at once
                yield from self.pubsub.listen()
            except Exception as exc:  # noqa: BLE001  (any failure: Redis gone, reset, protocol error)
                self.subscribed = False
                log.warning("Redis subscription lost (%s); subscribing again in %.1f s", type(exc).__name__, retry_s)
                time.sleep(retry_s)
                retry_s = min(retry_s * 2, self.max_retry_s)
