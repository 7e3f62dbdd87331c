"""What the sweep tests share: the command line of a tiny sweep and its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tiny_args(data: Path, out: Path, *extra: str, trials: int = 2) -> list[str]:
    """``minifc sweep`` arguments for a sweep of ``trials`` tiny runs (two epochs, hidden 8) on ``data``."""
    return ["sweep", "--search", "lr=loguniform(1e-2, 2e-1)", "--search", "hidden=categorical(8, 12)",
            "--epochs", "2", "--data", str(data), "--trials", str(trials), "--out", str(out), "--quiet", *extra]


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def minifc_process(*args: str, **kwargs) -> subprocess.Popen:
    """``python -m minifc ARGS`` in a new process, this checkout first on its path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "minifc", *args], env=env, **kwargs)
