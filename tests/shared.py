"""What every test may use without Flask or a database: hypothesis profiles, reference data, ``require``.

The pure core's tests (tests/tracking/test_detectors.py, test_geo.py, test_filters.py) import
only this, so they run where neither Flask nor SQLAlchemy is installed (scripts/check_core.sh).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples every run (a red CI must mean a real regression); locally,
# hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

SHARED_DATA = Path(os.environ.get("ESCORT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
IN_CI = os.environ.get("CI") == "true"


def require(condition: bool, reason: str) -> None:
    """Skip when a component is missing, but fail under CI=true, where everything must run."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


def shared_data(*parts: str) -> Path:
    """Return a path in ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    require(path.exists(), f"reference data {path} is absent")
    return path
