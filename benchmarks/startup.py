"""Start-up: what the plugin costs a suite that never uses it.

``pytest -q`` on 300 plain tests, with the plugin loaded and with ``-p no:barapi``, in
alternating order (A B, B A, ...) so drift in machine load hits both sides alike. The figure
is the median of the per-pair ratios, by wall time (what a user waits for) and by CPU time.

On a shared 2-core machine one run varies by several percent from the next, more than the
plugin costs, so the full benchmark also counts the instructions of one run each way under
valgrind (``cachegrind``, hash seed and address layout fixed): a figure that does not move
with the machine's load, at the price of a slow run.

Scenarios: no barapi settings at all (the goal), and credentials in the environment, as a CI
job that sets them for the whole suite does (the plugin then masks them from the start).

And the same plain suite as a CI container runs it: ``PYTHONDONTWRITEBYTECODE=1`` (many
Docker images set it) with every module byte-compiled beforehand (pip compiles at install
time) but no assertion-rewritten module cached. pytest rewrites the asserts of every module
of a ``pytest11`` distribution (``_mark_plugins_for_rewrite``) with its own import hook, which
reads and writes only its own ``*-pytest-<version>.pyc``: unable to write it, it parses and
compiles each of those modules again on every run, ours included, and pip's ``.pyc`` is never
read. The scenario lives in its own ``PYTHONPYCACHEPREFIX``, so the caches of the developer's
checkout (which may hold rewritten ``.pyc`` files) neither help nor change.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from measure import Spread, Timing, clean_env, timed_pytest

TESTS = 300
FILES = 10
WITH_PLUGIN = ("-q",)
WITHOUT_PLUGIN = ("-q", "-p", "no:barapi")
CREDENTIALS = {
    "BARAPI_URL": "https://barapi.example.test",
    "BARAPI_USER": "alice@example.test",
    "BARAPI_PASSWORD": "fake-bench-password",
    "BARAPI_CLIENT_ID": "fake-bench-client",
    "BARAPI_CLIENT_SECRET": "fake-bench-secret",
}


@dataclass(frozen=True)
class StartupResult:
    ratio: Spread
    with_plugin: Spread
    without_plugin: Spread
    cpu_ratio: Spread
    cpu_with_plugin: Spread
    cpu_without_plugin: Spread


@dataclass(frozen=True)
class Instructions:
    with_plugin: int
    without_plugin: int

    @property
    def ratio(self) -> float:
        return self.with_plugin / self.without_plugin


def write_project(root: Path, tests: int = TESTS) -> None:
    """A suite of ``tests`` plain tests that need nothing from barapi."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    per_file = tests // FILES
    for number in range(FILES):
        body = "".join(
            f"def test_{number}_{index}():\n    assert {index} + 1 > {index}\n\n\n"
            for index in range(per_file)
        )
        (root / f"test_plain_{number}.py").write_text(body)


def project(workdir: Path, tests: int = TESTS) -> Path:
    root = workdir / f"startup-{tests}"
    if not root.exists():
        write_project(root, tests)
    return root


def container_env(workdir: Path, tests: int = TESTS) -> dict[str, str]:
    """The environment of a CI container: bytecode compiled, none rewritten, none written.

    Both sides run once with bytecode writable into a fresh cache prefix (every module gets
    its ``.pyc``, as pip's install-time compilation gives it), then every rewritten ``.pyc``
    is removed from that prefix: pytest could never have written one.
    """
    root = project(workdir, tests)
    prefix = workdir / "container-pycache"
    shutil.rmtree(prefix, ignore_errors=True)
    env = clean_env(PYTHONPYCACHEPREFIX=str(prefix))
    timed_pytest(WITH_PLUGIN, root, env)
    timed_pytest(WITHOUT_PLUGIN, root, env)
    for rewritten in prefix.rglob("*-pytest-*.pyc"):
        rewritten.unlink()
    return {**env, "PYTHONDONTWRITEBYTECODE": "1"}


def run(
    workdir: Path,
    pairs: int,
    credentials: bool = False,
    container: bool = False,
    warm_up: bool = True,
    tests: int = TESTS,
) -> StartupResult:
    root = project(workdir, tests)
    if container:
        env = container_env(workdir, tests)  # which has run both sides once already
    else:
        env = clean_env(**CREDENTIALS) if credentials else clean_env()
        if warm_up:  # bytecode caches and the OS page cache, for both sides
            timed_pytest(WITH_PLUGIN, root, env)
            timed_pytest(WITHOUT_PLUGIN, root, env)

    with_plugin: list[Timing] = []
    without_plugin: list[Timing] = []
    for pair in range(pairs):
        if pair % 2 == 0:
            with_plugin.append(timed_pytest(WITH_PLUGIN, root, env))
            without_plugin.append(timed_pytest(WITHOUT_PLUGIN, root, env))
        else:
            without_plugin.append(timed_pytest(WITHOUT_PLUGIN, root, env))
            with_plugin.append(timed_pytest(WITH_PLUGIN, root, env))
    both = list(zip(with_plugin, without_plugin, strict=True))
    return StartupResult(
        ratio=Spread.of([a.wall / b.wall for a, b in both]),
        with_plugin=Spread.of([t.wall for t in with_plugin]),
        without_plugin=Spread.of([t.wall for t in without_plugin]),
        cpu_ratio=Spread.of([a.cpu / b.cpu for a, b in both]),
        cpu_with_plugin=Spread.of([t.cpu for t in with_plugin]),
        cpu_without_plugin=Spread.of([t.cpu for t in without_plugin]),
    )


def instructions(workdir: Path, container: bool = False) -> Instructions | str:
    """Instructions of one run with and one without the plugin, or why they were not counted."""
    root = project(workdir)
    if container:
        env = {**container_env(workdir), "PYTHONHASHSEED": "0"}
    else:
        env = clean_env(PYTHONHASHSEED="0")
        timed_pytest(WITH_PLUGIN, root, env)  # bytecode caches written outside valgrind
    return count_instructions((WITH_PLUGIN, root), (WITHOUT_PLUGIN, root), env)


def count_instructions(
    with_plugin: tuple[Sequence[str], Path],
    without_plugin: tuple[Sequence[str], Path],
    env: dict[str, str],
) -> Instructions | str:
    """Instructions of one ``pytest`` run each way (its arguments, its directory), counted at
    once under valgrind; or why they were not counted."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return "n/a (no valgrind)"
    command = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    setarch = shutil.which("setarch")
    if setarch is not None:  # the same address layout every time: the counts repeat exactly
        command = [setarch, "-R", *command]

    def count(run: tuple[Sequence[str], Path]) -> int | None:
        args, cwd = run
        done = subprocess.run(
            [*command, sys.executable, "-m", "pytest", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
        return int(found.group(1).replace(",", "")) if found and done.returncode == 0 else None

    with ThreadPoolExecutor(2) as pool:
        counted_with, counted_without = pool.map(count, (with_plugin, without_plugin))
    if counted_with is None or counted_without is None:
        return "n/a (valgrind failed)"
    return Instructions(counted_with, counted_without)
