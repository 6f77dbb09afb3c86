"""The package's modules import each other one way: no circle, lazy imports included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def circles(src: Path) -> list[str]:
    """What ``tools/import_cycles.py`` says of the package under ``src``: its last line is the
    count, each line before it one circle."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "import_cycles.py"), str(src), "pytest_barapi"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_no_module_of_the_package_imports_one_that_imports_it() -> None:
    *found, count = circles(ROOT / "src")
    assert found == []
    assert count.startswith("0 circles among ")


def test_a_circle_would_be_found(tmp_path: Path) -> None:
    package = tmp_path / "pytest_barapi"
    package.mkdir()
    (package / "settings.py").write_text("def url():\n    from pytest_barapi import run\n")
    (package / "run.py").write_text("from pytest_barapi.settings import url\n")
    assert circles(tmp_path) == ["circle: run <-> settings", "1 circles among 2 modules"]
