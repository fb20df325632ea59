"""Let ``python benchmarks/X.py`` run by itself with any Python 3.11.

When the project's dependencies cannot be imported here, re-run the script with the
project's venv (``.venv``, created and installed like ``tests/run.sh`` does if missing).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEEDED = ("uvloop", "argon2", "orjson", "structlog", "yaml", "pyroaring", "python_calamine")


def use_project_python() -> None:
    if all(importlib.util.find_spec(name) is not None for name in NEEDED):
        return
    python = REPO / ".venv" / "bin" / "python"
    if not python.exists():
        print("setting up .venv for the benchmark (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(REPO / ".venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "-e", f"{REPO}[dev]"], check=True)
    os.execv(str(python), [str(python), *sys.argv])
