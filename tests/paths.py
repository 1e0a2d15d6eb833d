"""Paths of the repository that tests read, wherever the test module sits."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STATEMACHINES = REPO_ROOT / "statemachines"
