"""Bound what a request may send: a body beyond the limit is refused with 413 before it is read."""

from __future__ import annotations

from flask import Flask, Request, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

# Trackers send one position per request (a Traccar Client JSON location is under 2 KB,
# an OwnTracks message less): their bodies are bounded far below the app's limit, because
# /osmand's JSON form carries its device id in the body and must be read to check it.
TRACKER_PATHS = ("/osmand", "/owntracks")
TRACKER_MAX_BODY_BYTES = 64 * 1024
JSON_PATHS = ("/api/", "/osmand", "/owntracks", "/healthz", "/metrics")


def limit_for(path: str, max_body_bytes: int) -> int:
    """Return how many body bytes a request to ``path`` may send."""
    if path.startswith(TRACKER_PATHS):
        return min(TRACKER_MAX_BODY_BYTES, max_body_bytes)
    return max_body_bytes


def too_large_message(limit: int) -> str:
    """Say what was refused and which setting raises the limit."""
    return f"the request body is larger than {limit} bytes (ESCORT_MAX_BODY_BYTES sets the limit)"


class LimitedRequest(Request):
    """A request whose streamed body (no Content-Length) reaching the limit is a 413, not a cut-off body.

    werkzeug stops reading a chunked body at ``max_content_length`` and hands back what it
    read, which then fails as bad JSON (a misleading 400); the client should hear "too large".
    """

    def get_data(self, *args, **kwargs):
        """Return the body; raise 413 when a streamed one filled the whole limit."""
        data = super().get_data(*args, **kwargs)
        limit = self.max_content_length
        if self.content_length is None and limit is not None and len(data) >= limit:
            raise RequestEntityTooLarge(too_large_message(limit))
        return data


def install(app: Flask, max_body_bytes: int) -> None:
    """Refuse oversized bodies first thing, and bound streamed (chunked) ones while they are read."""
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.request_class = LimitedRequest

    def _limit_body():
        """Check Content-Length before anything reads the body; cap a chunked body as it streams."""
        limit = limit_for(request.path, max_body_bytes)
        request.max_content_length = limit  # werkzeug stops a body without Content-Length here
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge(too_large_message(limit))
        return None

    # First of all before-request functions: none of them may read a body over the limit.
    app.before_request_funcs.setdefault(None, []).insert(0, _limit_body)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        message = too_large_message(limit_for(request.path, max_body_bytes))
        if request.path.startswith(JSON_PATHS):
            return jsonify(error=message), 413
        return RequestEntityTooLarge(message)
