"""Write a config file for a served site and run ``python -m monitor`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_config(path: Path, *, data_dir: Path, sources: Sequence[dict[str, object]],
                 extra: str = "", classify: bool = False) -> Path:
    lines = [
        f"data_dir = {json.dumps(str(data_dir))}",
        "include_default_sources = false",
        "",
        "[fetch]",
        'allowed_hosts = ["127.0.0.1"]',
        "connect_timeout = 2",
        "read_timeout = 5",
        "total_timeout = 10",
        "",
        "[schedule]",
        "extraction_workers = 1",
        "",
        "[classifier]",
        f"enabled = {'true' if classify else 'false'}",
        extra,
    ]
    for src in sources:
        lines.append("[[sources]]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in src.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def monitor_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "200"
    return env


def run_monitor(
    *args: str, timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True,
        timeout=timeout, env=monitor_env(), cwd=ROOT, check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def popen_monitor(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=monitor_env(), cwd=ROOT,
    )
