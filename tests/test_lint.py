"""ruff check is clean on the whole checkout (rules in ruff.toml), as in CI, and the
pre-commit config that runs it is valid."""

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


def test_pre_commit_config_is_valid():
    # The hooks are repo: local / language: system, so validating needs no network.
    if importlib.util.find_spec("pre_commit") is None:
        pytest.skip("pre-commit is not installed (it is in the dev extras: pip install -e \".[dev]\")")
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"pre-commit rejects .pre-commit-config.yaml (exit {result.returncode}):\n"
        f"{result.stdout}{result.stderr}")
    # Local hooks only: pre-commit then clones nothing, so it works offline.
    import yaml  # a dependency of pre-commit

    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert {hook["language"] for hook in config["repos"][0]["hooks"]} == {"system"}
