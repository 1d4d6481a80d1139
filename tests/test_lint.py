"""ruff check is clean on the whole checkout (rules in ruff.toml), as in CI."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (it is in the dev extras: pip install -e \".[dev]\")")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"ruff check found problems (exit {result.returncode}):\n{result.stdout}{result.stderr}")
