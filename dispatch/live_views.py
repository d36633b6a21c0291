"""Responder links over HTTP: the login-free live page and its position feed, and the dispatcher's REST API.

``/live/<token>`` and ``/live/<token>/position.json`` answer the same 404 body for a token that
never was, has expired, was revoked or whose alert is resolved. Their responses are never cached
(``no-store``, set for every page by app/security.py), never indexed, and send no Referer: the URL
is the credential.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, render_template

from app.api import ApiError
from app.auth import api_roles
from app.db import request_session, utcnow
from dispatch import alerts, live_links
from dispatch.models import Alert, LiveLink

pages = Blueprint("live", __name__)
api = Blueprint("live_api", __name__, url_prefix="/api/v1")

STAFF = ("admin", "dispatcher")
NOT_FOUND_JSON = '{"error": "this live link is not available"}\n'


@pages.after_request
def _private(response: Response) -> Response:
    """Keep the page's URL (its token) out of Referer headers and its content out of search engines."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _not_found_page() -> Response:
    """Return the one 404 page of every link that is not open (the same bytes whatever the reason)."""
    return Response(render_template("live/gone.html"), status=404, mimetype="text/html")


@pages.get("/live/<token>")
def live_page(token: str):
    """Show one alert's escort on a map, with the alert and what to do; no login, no patient data."""
    session = request_session()
    now = utcnow()
    found = live_links.find(session, token, now=now)
    if found is None:
        return _not_found_page()
    link, alert = found
    cfg = current_app.extensions["escort"].config
    view = live_links.page(session, link, alert, tz=cfg.timezone, dispatch_phone=cfg.dispatch_phone)
    live_links.record_opened(session, link, now=now)
    session.commit()
    return render_template("live/live.html", view=view, tile_url=cfg.tile_url, tile_attribution=cfg.tile_attribution)


@pages.get("/live/<token>/position.json")
def live_position(token: str):
    """Answer the escort's last known position and until when the link is open (the page polls it)."""
    session = request_session()
    found = live_links.find(session, token, now=utcnow())
    if found is None:
        return Response(NOT_FOUND_JSON, status=404, mimetype="application/json")
    link, alert = found
    return jsonify({**live_links.position(session, link, alert), "until": live_links.ends_at(link, alert).isoformat()
                    .replace("+00:00", "Z")})


def _alert(alert_id: int) -> Alert:
    """Return the alert, or answer 404 when there is none or this user may not know of it."""
    alert = request_session().get(Alert, alert_id)
    if alert is None or not alerts.may_know(g.user, alert.kind):
        raise ApiError(f"no alert with id {alert_id}", 404)
    return alert


@api.post("/alerts/<int:alert_id>/live-links")
@api_roles(*STAFF)
def create_link(alert_id: int):
    """Make a responder link for the alert; the answer holds its ``live_url`` (shown this once only)."""
    session = request_session()
    alert = _alert(alert_id)
    cfg = current_app.extensions["escort"].config
    now = utcnow()
    try:
        made = live_links.create(session, alert, now=now, minutes=cfg.responder_link_minutes, user=g.user)
    except live_links.LiveLinkError as exc:
        raise ApiError(str(exc), exc.status) from None
    session.commit()
    body = live_links.public(made.link, alert, now=now, by=g.user.username,
                             live_url=live_links.url(cfg.public_url, made.token) if cfg.public_url else None)
    # The path alone too: with no ESCORT_PUBLIC_URL the page puts it on the address it was opened by,
    # and says so (the server never guesses its public address from a request).
    body["live_path"] = f"/live/{made.token}"
    body.setdefault("live_url", None)
    return jsonify(body), 201


@api.get("/alerts/<int:alert_id>/live-links")
@api_roles(*STAFF)
def list_links(alert_id: int):
    """List the alert's responder links (never their tokens), newest first."""
    session = request_session()
    return jsonify(live_links.listed(session, _alert(alert_id), now=utcnow()))


@api.post("/alerts/<int:alert_id>/live-links/<int:link_id>/revoke")
@api_roles(*STAFF)
def revoke_link(alert_id: int, link_id: int):
    """End a responder link now."""
    session = request_session()
    alert = _alert(alert_id)
    link = session.get(LiveLink, link_id)
    if link is None or link.alert_id != alert.id:
        raise ApiError(f"no live link with id {link_id} on alert {alert_id}", 404)
    now = utcnow()
    try:
        live_links.revoke(session, link, g.user, now=now)
    except live_links.LiveLinkError as exc:
        raise ApiError(str(exc), exc.status) from None
    session.commit()
    return jsonify(live_links.public(link, alert, now=now))
