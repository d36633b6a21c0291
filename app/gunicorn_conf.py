"""gunicorn's configuration file: an access log without secrets in the path (/live/TOKEN is masked).

``escort serve`` and ``escort demo`` start gunicorn with ``-c`` this file (app.config's
GUNICORN_SAFE_LOGGING): whoever turns the access log on gets /live/[token] in it, never the token.
gunicorn reads the file by its path, so its master process does not import the ``app`` package:
the gevent worker patches the standard library before the app (and whatever opens TLS) is
imported. Keep this file free of imports from the project.
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


logger_class = MaskingLogger
