"""Run the real ``track`` command (the console script beside this Python, else ``python -m
tracker.cli``) as a subprocess, with the ``tracker`` package these tests imported."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import tracker

PACKAGE_PARENT = Path(tracker.__file__).resolve().parents[1]


def track_command() -> list[str]:
    script = Path(sys.executable).parent / "track"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tracker.cli"]


def track(*args, cwd: Path | str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``track ARGS...``; stdout and stderr as text."""
    env = dict(os.environ)
    if (PACKAGE_PARENT / "pyproject.toml").is_file():
        # a source checkout: make the script import this copy, not another installed one
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_PARENT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [*track_command(), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
