"""Small statistics for interleaved A/B measurements: medians and spread, nothing fancy."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Spread:
    """Median and interquartile range of a sample (the quartiles are the spread shown)."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, sample: Sequence[float]) -> Spread:
        if len(sample) < 2:
            value = sample[0]
            return cls(value, value, value, len(sample))
        low, median, high = statistics.quantiles(sample, n=4, method="inclusive")
        return cls(median, low, high, len(sample))

    def ratio(self) -> str:
        return f"{self.median:.3f}"

    def ratio_spread(self) -> str:
        return f"{self.low:.3f}-{self.high:.3f}"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a measured pytest run: nothing from the caller's barapi setup."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BARAPI_", "PYTEST_")) and name != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(extra)
    return env


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def timed_pytest(args: Sequence[str], cwd: Path, env: dict[str, str]) -> Timing:
    """Wall and CPU time (user + system) of one ``python -m pytest`` subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(
            f"pytest {' '.join(args)} exited {result.returncode}:\n{result.stdout.decode()}"
        )
    return Timing(wall, cpu)


@contextmanager
def echo_server() -> Iterator[str]:
    """The minimal token and API endpoint (``echo_server.py``), in a process of its own, so
    that its cost is not the client's; yields its port."""
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "echo_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().split()[1]
    finally:
        assert server.stdin is not None
        server.stdin.close()  # it serves until its stdin closes
        server.wait(timeout=10)
