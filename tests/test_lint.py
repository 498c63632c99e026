"""The lint CI runs: ruff, configured in pyproject.toml, over every Python file of the repository."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"  # pinned in requirements.txt, installed by scripts/install.sh


def test_ruff_finds_nothing():
    assert RUFF.is_file(), f"{RUFF} is missing: install requirements.txt (bash scripts/install.sh)"
    command = [str(RUFF), "check", "--no-cache", "--output-format", "concise", "."]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"`ruff check .` (safe fixes: `.venv/bin/ruff check --fix`):\n{result.stdout}{result.stderr}",
                    pytrace=False)
