"""Security headers on every response: a script-tight CSP, no framing, no sniffing, no caching."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, request

# Responses that are the same for everyone and carry no personal data; they keep the caching
# their view chose (the tablet's service worker file asks for "no-cache" itself).
PUBLIC_ENDPOINTS = frozenset({"static", "tracking.escort_service_worker"})


def tile_source(tile_url: str) -> str | None:
    """Return the CSP source of the tile server in ``tile_url`` ({s} subdomains as ``*.``), or None."""
    if not tile_url or tile_url.startswith("/"):
        return None  # no tiles, or tiles from this site ('self' covers them)
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = re.sub(r"^\{[a-z]+\}\.", "*.", parts.netloc)
    if "{" in host:
        return f"{parts.scheme}:"  # a template in the middle of the host: allow the scheme only
    return f"{parts.scheme}://{host}"


def content_security_policy(tile_url: str, host: str) -> str:
    """Return the CSP: scripts and styles from this site only, images also from data: and the tiles."""
    images = " ".join(filter(None, ("'self'", "data:", tile_source(tile_url))))
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {images}",
        # 'self' covers ws(s): of this host in CSP 3; older browsers need it spelt out.
        f"connect-src 'self' ws://{host} wss://{host}",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))


def install(app: Flask, *, tile_url: str, hsts_s: float) -> None:
    """Add the security headers to every response of ``app``; HSTS only when ``hsts_s`` is set."""

    @app.after_request
    def _security_headers(response: Response) -> Response:
        """Set the headers; pages and API answers may name patients, so nothing is stored."""
        headers = response.headers
        headers["Content-Security-Policy"] = content_security_policy(tile_url, request.host)
        # Cross-origin requests (map tiles) carry only our origin, never a page path with ids in it;
        # the OpenStreetMap tile policy asks web maps for a Referer.
        # A view may set a stricter one (the responder's live page: "no-referrer", its URL is the credential).
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        if hsts_s > 0:
            headers["Strict-Transport-Security"] = f"max-age={int(hsts_s)}; includeSubDomains"
        if request.endpoint not in PUBLIC_ENDPOINTS:
            headers["Cache-Control"] = "no-store"
            headers.pop("Expires", None)
        return response
