"""Large output: what masking costs a test that prints a lot while credentials are set.

One failing test prints a long log of progress lines, ``step 00042 .................. ok``
(many ``...``, where pytest's truncation could cut a secret short) and, once, the configured
password; pytest shows the captured output with the failure. With the plugin, every report
that carries that output is masked before the terminal prints it; with ``-p no:barapi`` it
is printed as it is. Runs alternate (plugin first, then the baseline first, ...); the figure
is the median of the per-pair wall-time ratios.

Scenarios: an ordinary password, and a 2,000-character one of letters, digits and
punctuation (as a password manager makes them): the masker's cost around each ``...`` grows
with the length of the secret and with the number of forms it takes (URL-quoted, escaped).

Each run is checked: the password is in the baseline's output and nowhere in the plugin's,
so the row measures masking that really happened.
"""

from __future__ import annotations

import random
import string
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from measure import Spread, clean_env
from startup import CREDENTIALS

TEST = """
import os

import pytest


def test_prints_a_long_log():
    size = int(os.environ["BENCH_OUTPUT_BYTES"])
    line = "step {:05d} " + "." * 24 + " ok"
    lines = [line.format(number) for number in range(size // len(line.format(0)) + 1)]
    lines[len(lines) // 2] += " (logged in with " + os.environ["BARAPI_PASSWORD"] + ")"
    print("\\n".join(lines))
    pytest.fail("the job did not finish")
"""
ORDINARY_PASSWORD = CREDENTIALS["BARAPI_PASSWORD"]
# Obviously fake, the same in every run.
_CHARACTERS = random.Random(2000).choices(
    string.ascii_letters + string.digits + string.punctuation, k=1990
)
LONG_PASSWORD = "fake-long-" + "".join(_CHARACTERS)
WITH_PLUGIN = ("-q", "-p", "no:cacheprovider")
WITHOUT_PLUGIN = (*WITH_PLUGIN, "-p", "no:barapi")


@dataclass(frozen=True)
class OutputResult:
    ratio: Spread
    with_plugin: Spread
    without_plugin: Spread
    output_bytes: int
    password_length: int


def run(
    workdir: Path,
    pairs: int,
    output_bytes: int,
    passwords: Sequence[str],
    warm_up: bool = True,
) -> list[OutputResult]:
    """One result per password, each from ``pairs`` interleaved pairs of runs."""
    project = workdir / "large_output"
    project.mkdir(parents=True, exist_ok=True)
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_output.py").write_text(TEST)

    def timed(args: tuple[str, ...], password: str) -> float:
        env = clean_env(
            **{**CREDENTIALS, "BARAPI_PASSWORD": password},
            BENCH_OUTPUT_BYTES=str(output_bytes),
        )
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *args],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        shown = "step 00001 ..." in done.stdout
        leaked = password in done.stdout
        masked = args == WITH_PLUGIN
        if done.returncode != 1 or not shown or leaked is masked:
            raise RuntimeError(
                f"large output, pytest {' '.join(args)}: exit {done.returncode}, output shown "
                f"{shown}, password shown {leaked} (expected {not masked}):\n{done.stdout[-2000:]}"
            )
        return wall

    if warm_up:  # the test module's bytecode, the OS page cache
        timed(WITHOUT_PLUGIN, passwords[0])
    results = []
    for password in passwords:
        with_plugin: list[float] = []
        without_plugin: list[float] = []
        for pair in range(pairs):
            if pair % 2 == 0:
                with_plugin.append(timed(WITH_PLUGIN, password))
                without_plugin.append(timed(WITHOUT_PLUGIN, password))
            else:
                without_plugin.append(timed(WITHOUT_PLUGIN, password))
                with_plugin.append(timed(WITH_PLUGIN, password))
        results.append(
            OutputResult(
                ratio=Spread.of([a / b for a, b in zip(with_plugin, without_plugin, strict=True)]),
                with_plugin=Spread.of(with_plugin),
                without_plugin=Spread.of(without_plugin),
                output_bytes=output_bytes,
                password_length=len(password),
            )
        )
    return results
