"""The real Nominatim the geocoding tests ask (scripts/nominatim.sh starts it; .ci/run exports its URL)."""

from __future__ import annotations

import os
import urllib.request

import pytest

from tests.conftest import require

NOMINATIM_URL = os.environ.get("ESCORT_TEST_NOMINATIM_URL", "")


def _answers(url: str) -> bool:
    """Say whether a Nominatim answers its status page at ``url``."""
    try:
        with urllib.request.urlopen(f"{url}/status?format=json", timeout=10) as reply:
            return b'"status":0' in reply.read().replace(b" ", b"")
    except OSError:
        return False


@pytest.fixture(scope="session")
def nominatim_url() -> str:
    """Return the test Nominatim's URL; skip (fail under CI=true) when it is not there."""
    require(bool(NOMINATIM_URL), "no Nominatim: run scripts/nominatim.sh and export ESCORT_TEST_NOMINATIM_URL")
    require(_answers(NOMINATIM_URL), f"the Nominatim at {NOMINATIM_URL} does not answer")
    return NOMINATIM_URL


@pytest.fixture
def app(tmp_path, nominatim_url):
    """Return an app on a freshly migrated database whose geocoder is the test Nominatim."""
    from app import create_app
    from app.db import upgrade
    from tests.conftest import _emptied_at_head, make_config

    app = create_app(make_config(tmp_path, geocoder_url=nominatim_url))
    engine = app.extensions["escort"].engine
    if not _emptied_at_head(engine):
        upgrade(engine)
    yield app
    engine.dispose()
