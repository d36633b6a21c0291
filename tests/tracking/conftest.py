"""The tracking tests' own conftest: the hypothesis profiles, with nothing that needs Flask."""

from __future__ import annotations

import tests.shared  # noqa: F401  (registers and loads the hypothesis profile)
