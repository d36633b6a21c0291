"""The Flask app factory: configuration, database, auth, Socket.IO and the rooms' blueprints."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask, jsonify, request
from flask_login import current_user
from sqlalchemy.engine import Engine

from app import logs, security
from app.auth import csrf
from app.config import REPO_ROOT, Config, ConfigError, instance_secret

# The rooms (dispatch, tracking, patients) and the roof's modules are imported inside the
# factory's functions, not here: this file is also the package every floor module lives in,
# so ``import app.db`` runs it first, and a room imported here would import the floor it
# stands on while the floor is half made. Only floor modules are imported at the top.
__all__ = ["create_app", "csrf"]
log = logging.getLogger(__name__)
# How often a process makes standing orders' trips up to their horizon (days ahead: minutes are plenty).
STANDING_TOP_UP_EVERY_S = 600


@dataclass
class Escort:
    """What the app shares with its handlers: configuration, engine, ingest limits."""

    config: Config
    engine: Engine
    limits: object
    active_trips: object = None
    router: object = None
    leg_router: object = None  # the router for pickup legs (a routing server's with a shorter time-out)
    zones: object = None
    geocoder: object = None  # places.geocoding.Geocoder, or None when none is configured
    link_secret: str | None = None  # the app's SECRET_KEY: escalation steps re-derive their alert's live link
    last_sweep_at: object = None
    last_top_up_at: object = None
    _started: bool = field(default=False)

    def start_background(self) -> None:
        """Start this process's background loops once: the positions fan-out and the sweep."""
        if self._started:
            return
        self._started = True
        from app.realtime import fanout, socketio

        fanout.start(self.config.positions_interval_s)
        if self.config.sweep_interval_s > 0:
            socketio.start_background_task(self._sweep_forever)

    def channels(self):
        """Return where escalations are sent."""
        from dispatch.notify import Channels

        cfg = self.config
        return Channels(webhook_url=cfg.webhook_url, smtp_url=cfg.smtp_url, mail_from=cfg.mail_from,
                        supervisor_email=cfg.supervisor_email, dispatch_phone=cfg.dispatch_phone,
                        public_url=cfg.public_url, link_minutes=cfg.responder_link_minutes,
                        link_secret=self.link_secret)

    def tell_supervisors(self, storm: dict) -> None:
        """Tell the supervisor (webhook, e-mail) that many accounts locked at once, when configured."""
        from dispatch.notify import notify

        channels = self.channels()
        emails = [channels.supervisor_email] if channels.supervisor_email and channels.smtp_url else []
        if not (channels.webhook_url or emails):
            return
        names = ", ".join(storm["accounts"])
        attempts = notify(channels, {"event": "lockout_storm", **storm}, emails,
                          "Escort Dispatch: many accounts locked at once",
                          f"These accounts were locked after wrong passwords within {storm['window_min']} minutes: "
                          f"{names}. Someone may be guessing passwords; see the audit log (login_failed).")
        for attempt in attempts:
            if not attempt.ok:
                log.warning("lockout storm notice by %s failed: %s", attempt.channel, attempt.error)

    def sweep_once(self, now) -> None:
        """Run one scheduler sweep and tell the screens what it changed."""
        from sqlmodel import Session

        from app import realtime
        from dispatch import alerts, scheduler, service

        with Session(self.engine, expire_on_commit=False) as session:
            result = scheduler.sweep(session, now=now, channels=self.channels(), tz=self.config.timezone)
        if self.last_top_up_at is None or (now - self.last_top_up_at).total_seconds() >= STANDING_TOP_UP_EVERY_S:
            self.last_top_up_at = now
            service.top_up_standing_orders(self.engine, now=now)
        for alert in result.alerts:
            realtime.emit_alert(alerts.public(alert))
        for reminder in result.reminders:
            realtime.emit_to_escort(reminder["event"], reminder["payload"], reminder["escort_user_id"])
        self.last_sweep_at = now
        # Where the alerts happened, in words: after the timers (the geocoder is paced and may be slow).
        from dispatch.alert_places import fill_places

        with Session(self.engine, expire_on_commit=False) as session:
            described = fill_places(session, self.geocoder, now=now)
        for alert in described:
            realtime.emit_alert(alerts.public(alert))
        self.route_pickup_legs(now)
        self.drop_ended_sockets(now)  # after the alerts: a failure here must not hold them back

    def route_pickup_legs(self, now) -> None:
        """Route the stale pickup legs (``dispatch.legs``); a failure is logged, the sweep goes on."""
        from sqlmodel import Session

        from dispatch import legs

        try:
            with Session(self.engine, expire_on_commit=False) as session:
                legs.refresh(session, self.leg_router or self.router, now=now)
        except Exception:  # noqa: BLE001  (the ETA falls back to the straight line meanwhile)
            log.exception("routing pickup legs failed")

    def drop_ended_sockets(self, now) -> None:
        """End idle staff sessions, then drop this process's sockets whose credential has ended anywhere."""
        from sqlmodel import Session

        from app import logins
        from app.realtime import riders
        from tracking.devices import revoked_among

        with Session(self.engine, expire_on_commit=False) as session:
            logins.end_idle(session, now=now, idle_logout_s=self.config.idle_logout_s)
            session.commit()
            held = riders.held()
            gone = logins.ended_credentials(session, held, now=now) | revoked_among(session, held)
        riders.drop(gone)

    def _sweep_forever(self) -> None:
        """Sweep every interval; a failed sweep is logged and the next one tries again."""
        from app.db import utcnow
        from app.realtime import socketio

        while True:
            socketio.sleep(self.config.sweep_interval_s)
            try:
                self.sweep_once(utcnow())
            except Exception:  # noqa: BLE001  (e.g. the database is away for a moment)
                log.exception("scheduler sweep failed")


def create_app(config: Config | None = None, *, demo: bool = False) -> Flask:
    """Build the app; ``demo`` allows a secret generated into the instance folder."""
    logs.install()
    cfg = config or Config.from_env()
    app = Flask(__name__, template_folder=str(REPO_ROOT / "templates"), instance_path=str(cfg.instance_path))
    secret = cfg.secret_key or (instance_secret(cfg.instance_path) if demo or cfg.testing else None)
    if secret is None:
        secret = cfg.require_secret()  # raises ConfigError with the fix in its message
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cfg.session_cookie_secure,
        REMEMBER_COOKIE_SECURE=cfg.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        TESTING=cfg.testing,
    )
    _init_extensions(app, cfg)
    app.extensions["escort"].link_secret = secret
    _register(app)
    security.install(app, tile_url=cfg.tile_url, hsts_s=cfg.hsts_s)
    if cfg.proxy_count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=cfg.proxy_count, x_proto=cfg.proxy_count)
    return app


def _router(cfg: Config, *, leg: bool = False):
    """Return the configured router (``leg``: for pickup legs), or raise ConfigError naming ESCORT_ROUTER_URL."""
    from dispatch.legs import LEG_TIMEOUT_S
    from places.factory import build_router

    try:
        return build_router(cfg, timeout_s=LEG_TIMEOUT_S if leg else None)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _init_extensions(app: Flask, cfg: Config) -> None:
    """Bind the database, login, CSRF and Socket.IO to this app."""
    from app.auth import login_manager
    from app.db import close_request_session, make_engine
    from app.realtime import socketio
    from dispatch import sockets as dispatch_sockets  # noqa: F401
    from dispatch.zones import ZoneCache
    from places.factory import build_geocoder

    # The socket modules are imported before init_app: Flask-SocketIO keeps handlers that
    # were declared before its first init_app and binds them to every app made after.
    from app import crypto, times
    from dispatch import device_sockets  # noqa: F401
    from dispatch import line, line_sockets  # noqa: F401  (line_sockets: the line's /device and /dispatch events)
    from dispatch.ingest import ActiveTrips, Limits

    crypto.install(crypto.keyring_for(cfg.data_keys, cfg.instance_path))
    engine = make_engine(cfg.database_url)
    app.jinja_env.globals["quick_replies"] = line.QUICK_REPLIES  # the tablet's one-tap messages
    # Pages show times in the service's zone (ESCORT_TIMEZONE) to the second; times.js is the browser's twin.
    app.jinja_env.globals["escort_timezone"] = cfg.timezone
    app.jinja_env.filters["local_time"] = lambda value, date=True: times.local_time(value, cfg.timezone, date=date)
    app.jinja_env.filters["lateness"] = times.lateness_words
    app.jinja_env.filters["duration"] = times.duration_words
    app.extensions["escort"] = Escort(
        config=cfg, engine=engine,
        limits=Limits(max_future_skew_s=cfg.max_future_skew_s, max_fix_age_s=cfg.max_fix_age_s),
        active_trips=ActiveTrips(),
        zones=ZoneCache(),
        router=_router(cfg),
        leg_router=_router(cfg, leg=True) if cfg.router_url else None,  # embedded: the one engine in memory
        geocoder=build_geocoder(cfg),
    )
    app.teardown_appcontext(close_request_session)
    login_manager.init_app(app)
    csrf.init_app(app)
    # SocketIO keeps server options between init_app calls: a queue set for one app would
    # stick to the next one made in this process (tests make many).
    socketio.server_options.pop("client_manager", None)
    from app.pubsub import queue_options
    from app.realtime import ServerPacket, fanout

    fanout.clear()
    socketio.init_app(
        app,
        async_mode=cfg.async_mode,
        **queue_options(cfg.redis_url, cfg.redis_channel),
        ping_interval=20,
        ping_timeout=20,
        max_http_buffer_size=2_000_000,
        serializer=ServerPacket,
    )
    device_sockets.register_hot_handlers(socketio.server)


def _register(app: Flask) -> None:
    """Register blueprints, socket handlers, CSRF rules and the health check."""
    from app import api, auth, bodylimit, openapi
    from dispatch import views as dispatch_views
    from patients import views as patient_views
    from places import views as place_views
    from dispatch import device_views

    bodylimit.install(app, app.extensions["escort"].config.max_body_bytes)
    # Set before any rule is added: an id in a URL beyond a row id's range is a 404, not a driver error.
    app.url_map.converters["int"] = api.RowIdConverter
    app.register_blueprint(openapi.bp)
    for bp in (auth.bp, dispatch_views.bp, dispatch_views.api, device_views.bp, patient_views.api,
               patient_views.pages, place_views.api):
        app.register_blueprint(bp)
    api.register_error_handlers(app)
    from app import admin, admin_pages  # noqa: F401  (admin_pages adds its views to admin.pages)

    app.register_blueprint(admin.api)
    app.register_blueprint(admin.pages)
    from dispatch import log_views  # the trip log (issue #6)

    app.register_blueprint(log_views.bp)
    app.register_blueprint(log_views.api)
    from dispatch import line_views  # messages and doses on a trip (issue #16)

    app.register_blueprint(line_views.api)
    from dispatch import plan_pages, plan_views  # re-planning, the board, standing orders (issue #14)

    app.register_blueprint(plan_views.api)
    app.register_blueprint(plan_pages.pages)
    from dispatch import live_views  # responders' live links for one alert (issue #16)

    app.register_blueprint(live_views.pages)
    app.register_blueprint(live_views.api)
    from dispatch import place_pages  # hazard zones and flagged places on a map (issue #14)

    app.register_blueprint(place_pages.pages)
    from dispatch import report_pages, report_views  # places escorts report, reviewed by dispatch (issue #16)

    app.register_blueprint(report_views.api)
    app.register_blueprint(report_pages.pages)

    @app.before_request
    def _idle_logout():
        """Log staff out after ``idle_logout_s`` without a request (escorts' tablets never)."""
        from app.auth import idle_check

        return idle_check()

    @app.before_request
    def _csrf_for_sessions():
        """Check CSRF on state-changing requests that ride on the login cookie."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        from app.auth import bearer_token

        if bearer_token() is not None or not current_user.is_authenticated:
            return None  # a bearer request ignores the cookie, so there is nothing to forge (login checks its own)
        csrf.protect()
        return None

    @app.get("/healthz")
    def healthz():
        """Report the database, Redis (when configured) and the scheduler; 503 if the database is away."""
        from app import health

        body, ok = health.report(app.extensions["escort"])
        return jsonify(body), 200 if ok else 503

    @app.get("/metrics")
    def metrics():
        """Serve this process's metrics in Prometheus' text format, to the metrics token or loopback."""
        from app.metrics import exposition, refusal

        refused = refusal(request, app.extensions["escort"].config.metrics_token)
        if refused is not None:
            return jsonify(error=refused[0]), refused[1], refused[2]
        return exposition(), 200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
