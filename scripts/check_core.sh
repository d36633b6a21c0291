#!/usr/bin/env bash
# The pure core's tests (geometry, filters, detectors) in a virtual environment with neither
# Flask nor SQLAlchemy: proof that the core needs no framework. .ci/run calls it; the venv is
# kept in .ci/core-venv, so later runs only check it and run the tests (a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.ci/core-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# What the core and its tests import, nothing more (orjson: the detection state's JSON).
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  pytest pytest-timeout hypothesis shapely numpy gpxpy orjson
"$VENV/bin/python" - <<'PY'
import importlib.util
import sys
present = [name for name in ("flask", "sqlalchemy", "sqlmodel") if importlib.util.find_spec(name)]
if present:
    sys.exit(f"core check: the core's venv must not have {', '.join(present)}")
PY
# --confcutdir: tests/conftest.py (the app's fixtures) is never loaded; tests/tracking/conftest.py is.
# The project is not installed here: the core is imported from the work tree.
PYTHONPATH="$PWD" "$VENV/bin/python" -m pytest -q -p no:cacheprovider --confcutdir=tests/tracking \
  tests/tracking/test_detectors.py tests/tracking/test_geo.py tests/tracking/test_filters.py \
  tests/tracking/test_flagged_places.py "$@"
