"""The Makefile's help lists every target; `make ui` and `make docs` run what they say."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make(*args: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def targets() -> set[str]:
    """The Makefile's own targets (not files, patterns or variables)."""
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):(?!=)", text, re.M))


def test_help_lists_every_target() -> None:
    found = targets()
    assert {"run", "demo", "decode-grib", "format", "lint", "ui", "docs"} <= found
    listed = set(re.findall(r"^make ([a-z-]+)", make("help"), re.M))
    assert listed == found - {"help"}


def test_ui_and_docs_start_what_they_say_on_the_project_prefect_home(tmp_path: Path) -> None:
    # --dry-run prints the commands; `install` is up to date wherever the tests run.
    ui = make("--dry-run", "ui", f"PREFECT_HOME={tmp_path}")
    assert ".venv/bin/prefect server start --host 127.0.0.1" in ui
    assert ".venv/bin/python -m flows docs" in make("--dry-run", "docs")
    # The server reads the database `make run` wrote: the project's PREFECT_HOME, exported.
    home = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "--eval",
            'show-home: ; @echo "$$PREFECT_HOME"',
            "show-home",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PREFECT_HOME"},
        check=True,
    ).stdout
    assert home.strip() == str(ROOT / ".prefect")
