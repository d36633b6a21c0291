"""gunicorn's access log without secrets in the path: a responder link's token (/live/TOKEN) is masked.

``escort serve`` and ``escort demo`` start gunicorn with this logger class (app.config's
GUNICORN_SAFE_LOGGING): whoever turns the access log on gets /live/[token] in it, never the token.
"""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

# The path segment after /live/ is the credential of a responder's live link.
LIVE_TOKEN = re.compile(r"/live/[^/?\s]+")


def masked(text: str | None) -> str | None:
    """Return ``text`` with every live-link token replaced by ``[token]``."""
    return LIVE_TOKEN.sub("/live/[token]", text) if text else text


class MaskingLogger(Logger):
    """gunicorn's logger, with live-link tokens masked in the path, the request line and the Referer."""

    def atoms(self, resp, req, environ, request_time):
        """Return gunicorn's log atoms with the tokens masked."""
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("U", "r", "f", "{referer}i", "{raw_uri}e", "{path_info}e"):
            if key in atoms:
                atoms[key] = masked(atoms[key])
        return atoms
