"""The layers stated in pyproject.toml ([tool.importlinter]) hold: lint-imports keeps every contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _lint_imports() -> str:
    """Return the path of the venv's lint-imports (the test extra installs it)."""
    found = Path(sys.executable).with_name("lint-imports")
    return str(found) if found.exists() else shutil.which("lint-imports") or "lint-imports"


def test_every_import_contract_is_kept():
    # --no-cache: nothing written into the work tree, so parallel runs cannot trip on each other.
    done = subprocess.run([_lint_imports(), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
