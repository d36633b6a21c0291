"""Sensitive fields sealed at rest with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).

What is sealed: patient sheets, escorts' emergency contacts, and the medication named in trip
events and alerts (``seal_fields``).

Keys come from ``ESCORT_DATA_KEYS``: comma-separated Fernet keys, newest first. The first
key seals; every key opens (``MultiFernet``). Rotation, documented in the README:

1. generate a key (``escort keys generate``) and put it first in ``ESCORT_DATA_KEYS``,
   keeping the old one after it; restart;
2. ``escort keys rotate`` re-seals every sheet with the new key;
3. drop the old key from ``ESCORT_DATA_KEYS``; restart.

Without ``ESCORT_DATA_KEYS`` (the embedded default), a key is generated once into the
instance folder (``instance/data_keys``, mode 0600) and used from there.

The column type ``Sealed`` stores JSON values as ``fernet:<token>`` text, so the database
file holds no plaintext of what it seals. The keyring is per process, installed by
``create_app`` (and by the CLI) with ``install``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from app.config import read_or_create_private

PREFIX = "fernet:"


class KeyError_(RuntimeError):
    """The data keys are missing, malformed, or do not open what is stored."""


class Keyring:
    """The Fernet keys of this deployment: the first seals, all open."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise KeyError_("no data key given")
        try:
            self._fernets = [Fernet(k.strip().encode()) for k in keys]
        except (ValueError, TypeError):
            raise KeyError_(
                "ESCORT_DATA_KEYS must be comma-separated Fernet keys (44 url-safe base64 characters each); "
                "make one with: escort keys generate"
            ) from None
        self._multi = MultiFernet(self._fernets)
        self.count = len(keys)

    def seal(self, value: Any) -> str:
        """Return ``value`` as JSON sealed with the first key."""
        return PREFIX + self._multi.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def open(self, text: str) -> Any:
        """Return the JSON value sealed in ``text``."""
        if not text.startswith(PREFIX):
            raise KeyError_("a sealed field is not in the fernet: format")
        try:
            return json.loads(self._multi.decrypt(text[len(PREFIX):].encode()))
        except InvalidToken:
            raise KeyError_(
                "a sealed patient field does not open with ESCORT_DATA_KEYS: is the key that sealed it missing?"
            ) from None

    def reseal(self, text: str) -> str:
        """Return ``text`` sealed again with the first key (for rotation)."""
        if not text.startswith(PREFIX):
            raise KeyError_("a sealed field is not in the fernet: format")
        try:
            return PREFIX + self._multi.rotate(text[len(PREFIX):].encode()).decode()
        except InvalidToken:
            raise KeyError_("a sealed patient field does not open with ESCORT_DATA_KEYS") from None

    def is_primary(self, text: str) -> bool:
        """Say whether ``text`` is sealed with the first key already."""
        try:
            self._fernets[0].decrypt(text[len(PREFIX):].encode())
        except InvalidToken:
            return False
        return True


def generate_key() -> str:
    """Return a new Fernet key."""
    return Fernet.generate_key().decode()


def keyring_for(env_keys: str | None, instance_path: Path) -> Keyring:
    """Return the keyring from ``ESCORT_DATA_KEYS``, or the instance folder's (made once)."""
    if env_keys and env_keys.strip():
        return Keyring([k for k in env_keys.split(",") if k.strip()])
    text = read_or_create_private(instance_path / "data_keys", lambda: generate_key() + "\n")
    return Keyring([line for line in text.splitlines() if line.strip()])


_lock = threading.Lock()
_current: Keyring | None = None


def install(keyring: Keyring) -> None:
    """Make ``keyring`` the one this process seals and opens with."""
    global _current
    with _lock:
        _current = keyring


def current() -> Keyring:
    """Return the installed keyring, or fail clearly."""
    if _current is None:
        raise KeyError_("no data keyring installed (create_app installs it)")
    return _current


class Sealed(TypeDecorator):
    """A JSON value stored sealed (``fernet:…`` text); NULL stays NULL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        """Seal on the way in."""
        return None if value is None else current().seal(value)

    def process_result_value(self, value: str | None, dialect) -> Any:
        """Open on the way out."""
        return None if value is None else current().open(value)


# The key under which ``seal_fields`` keeps a JSON detail's sensitive values, sealed together.
SEALED_KEY = "sealed"


def seal_fields(detail: dict, names: tuple[str, ...]) -> dict:
    """Return ``detail`` with the named keys moved into one sealed value under ``"sealed"``.

    For JSON details (a trip event's, an alert's) whose other keys the database must still
    read (a status event's ``to``): only what names a medication or a person is sealed.
    """
    secret = {name: detail[name] for name in names if name in detail}
    if not secret:
        return dict(detail)
    rest = {key: value for key, value in detail.items() if key not in secret}
    rest[SEALED_KEY] = current().seal(secret)
    return rest


def open_fields(detail: Any) -> Any:
    """Return a detail with its sealed values opened back into it (a detail without them as it is)."""
    if not isinstance(detail, dict) or not isinstance(detail.get(SEALED_KEY), str):
        return detail
    opened = {key: value for key, value in detail.items() if key != SEALED_KEY}
    opened.update(current().open(detail[SEALED_KEY]))
    return opened


CONTACT_COLUMNS = ("emergency_contact_name", "emergency_contact_email", "emergency_contact_phone")


def reseal_others(session, keyring: Keyring) -> dict[str, int]:
    """Re-seal escorts' emergency contacts and the sealed parts of alert and trip event details; count them."""
    counts = {"contacts": 0, "details": 0}
    cols = ", ".join(CONTACT_COLUMNS)
    for uid, *values in session.execute(sa.text(f'SELECT id, {cols} FROM "user"')).all():
        fresh = [keyring.reseal(v) if v is not None else None for v in values]
        if fresh != values:
            session.execute(sa.text(f'UPDATE "user" SET {", ".join(f"{c} = :{c}" for c in CONTACT_COLUMNS)} '
                                    "WHERE id = :id"), {**dict(zip(CONTACT_COLUMNS, fresh)), "id": uid})
            counts["contacts"] += 1
    for name in ("alert", "trip_event"):
        table = sa.table(name, sa.column("id", sa.Integer), sa.column("detail", sa.JSON))
        for row_id, detail in session.execute(sa.select(table.c.id, table.c.detail)).all():
            if isinstance(detail, dict) and isinstance(detail.get(SEALED_KEY), str):
                resealed = {**detail, SEALED_KEY: keyring.reseal(detail[SEALED_KEY])}
                session.execute(table.update().where(table.c.id == row_id).values(detail=resealed))
                counts["details"] += 1
    return counts
