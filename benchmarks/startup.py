"""Start-up: what the plugin costs a suite that never uses it.

``pytest -q`` on 300 plain tests, with the plugin loaded and with ``-p no:barapi``, in
alternating order (A B, B A, ...) so drift in machine load hits both sides alike. The figure
is the median of the per-pair ratios, by wall time (what a user waits for) and by CPU time
(less disturbed by whatever else the machine is doing). On a busy machine the run-to-run
spread of a whole pytest run is larger than the plugin's cost, so the import of the plugin is
also timed alone, in fresh interpreters that have already imported pytest: the smallest of
those times is the plugin's own start-up cost, shown against the median run.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from measure import Spread, Timing, clean_env, timed_pytest

TESTS = 300
FILES = 10
TIME_IMPORT = (
    "import time, pytest; start = time.perf_counter(); import pytest_barapi.plugin; "
    "print(time.perf_counter() - start)"
)


@dataclass(frozen=True)
class StartupResult:
    ratio: Spread
    with_plugin: Spread
    without_plugin: Spread
    cpu_ratio: Spread
    cpu_with_plugin: Spread
    cpu_without_plugin: Spread
    plugin_import: Spread


def write_project(root: Path) -> None:
    """A suite of plain tests that need nothing from barapi."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    per_file = TESTS // FILES
    for number in range(FILES):
        body = "".join(
            f"def test_{number}_{index}():\n    assert {index} + 1 > {index}\n\n\n"
            for index in range(per_file)
        )
        (root / f"test_plain_{number}.py").write_text(body)


def import_times(env: dict[str, str], runs: int) -> list[float]:
    """Seconds each fresh interpreter took to import the plugin, pytest already imported."""
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", TIME_IMPORT],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(runs)
    ]


def run(workdir: Path, pairs: int) -> StartupResult:
    project = workdir / "startup"
    write_project(project)
    env = clean_env()
    with_args = ["-q"]
    without_args = ["-q", "-p", "no:barapi"]
    # Warm-up: bytecode caches and the OS page cache, for both sides.
    timed_pytest(with_args, project, env)
    timed_pytest(without_args, project, env)

    with_plugin: list[Timing] = []
    without_plugin: list[Timing] = []
    for pair in range(pairs):
        if pair % 2 == 0:
            with_plugin.append(timed_pytest(with_args, project, env))
            without_plugin.append(timed_pytest(without_args, project, env))
        else:
            without_plugin.append(timed_pytest(without_args, project, env))
            with_plugin.append(timed_pytest(with_args, project, env))
    pairs_ = list(zip(with_plugin, without_plugin, strict=True))
    return StartupResult(
        ratio=Spread.of([a.wall / b.wall for a, b in pairs_]),
        with_plugin=Spread.of([t.wall for t in with_plugin]),
        without_plugin=Spread.of([t.wall for t in without_plugin]),
        cpu_ratio=Spread.of([a.cpu / b.cpu for a, b in pairs_]),
        cpu_with_plugin=Spread.of([t.cpu for t in with_plugin]),
        cpu_without_plugin=Spread.of([t.cpu for t in without_plugin]),
        plugin_import=Spread.of(import_times(env, pairs)),
    )
