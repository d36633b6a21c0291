"""Escalation notices by webhook and e-mail; every attempt's outcome is returned for the timeline."""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlparse

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Channels:
    """Where escalations go: one webhook for every step, and an SMTP server for e-mail."""

    webhook_url: str | None = None
    smtp_url: str | None = None          # smtp://host:port
    mail_from: str = "escort-dispatch@localhost"
    supervisor_email: str | None = None
    dispatch_phone: str | None = None  # ESCORT_DISPATCH_PHONE: whom a responder calls
    # ESCORT_PUBLIC_URL: each step carries a live link built on it; None: the steps carry no link.
    public_url: str | None = None
    link_minutes: int = 60  # ESCORT_RESPONDER_LINK_MINUTES: how long a step's live link stays open
    # The server's SECRET_KEY: the steps of one alert name its one link again (live_links.for_step);
    # None: each step makes a link of its own.
    link_secret: str | None = None
    # (lat, lon) -> the place in words, or None; raises on a geocoder fault (the notice goes without words).
    describe_place: Callable[[float, float], str | None] | None = None


@dataclass(frozen=True)
class Attempt:
    """One notification attempt and how it went."""

    channel: str
    target: str
    ok: bool
    error: str | None = None

    def as_dict(self) -> dict:
        """Return the attempt for the trip's timeline."""
        return {"channel": self.channel, "target": self.target, "ok": self.ok, "error": self.error}


def post_webhook(url: str, payload: dict) -> Attempt:
    """POST the payload as JSON; any 2xx is success."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            ok = 200 <= resp.status < 300
            return Attempt("webhook", url, ok, None if ok else f"HTTP {resp.status}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Attempt("webhook", url, False, str(getattr(exc, "reason", exc))[:200])


def send_email(smtp_url: str, mail_from: str, to: str, subject: str, body: str) -> Attempt:
    """Send one plain-text e-mail through the SMTP server at ``smtp://host:port``."""
    parsed = urlparse(smtp_url)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = mail_from, to, subject
    message.set_content(body)
    try:
        with smtplib.SMTP(parsed.hostname or "localhost", parsed.port or 25, timeout=TIMEOUT_S) as smtp:
            smtp.send_message(message)
        return Attempt("email", to, True)
    except (smtplib.SMTPException, OSError) as exc:
        return Attempt("email", to, False, str(exc)[:200])


def notify(channels: Channels, payload: dict, emails: list[str], subject: str, body: str) -> list[Attempt]:
    """Send one escalation step by webhook and to every e-mail address; return the attempts."""
    attempts = []
    if channels.webhook_url:
        attempts.append(post_webhook(channels.webhook_url, payload))
    for address in emails:
        if channels.smtp_url:
            attempts.append(send_email(channels.smtp_url, channels.mail_from, address, subject, body))
        else:
            attempts.append(Attempt("email", address, False, "no SMTP server configured (ESCORT_SMTP_URL)"))
    return attempts
