"""The patient sheet's sealing, which lives in app/crypto.py (the floor: users' fields are sealed too)."""

from app.crypto import (  # noqa: F401  (the names this room and its callers have always used)
    PREFIX,
    SEALED_KEY,
    Keyring,
    KeyError_,
    Sealed,
    current,
    generate_key,
    install,
    keyring_for,
    open_fields,
    reseal_others,
    seal_fields,
)
