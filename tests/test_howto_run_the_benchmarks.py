"""The benchmarks in benchmarks/ still run. A smoke test: it never asserts a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


def test_the_quick_benchmark_runs_and_prints_its_tables() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,  # only a bound on a hung run: a loaded machine under coverage is slow
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "| cost | goal | ratio (median) | spread (IQR) | medians, with / without |" in out
    assert "| start-up: `pytest -q`, 20 plain tests" in out  # 300 in the full run
    assert "| start-up in a CI container: `PYTHONDONTWRITEBYTECODE=1`" in out
    assert (
        "| large output: a failing test prints 3 KB (8 `...` a line), an ordinary password" in out
    )
    assert "| large output: a failing test prints 3 KB (8 `...` a line), a 2,000-character" in out
    assert "| per test: 10 tests requesting `barapi_token`, credentials set" in out
    assert "| per request: `barapi_session` / `requests.Session`" in out
    assert "| tests | no xdist | -n 2 | replay |" in out
    # Counted at the server: the live columns show how many token requests the run made.
    row = next(line for line in out.splitlines() if line.startswith("| 10 |"))
    no_xdist, two_workers = row.split("|")[2:4]
    assert no_xdist.strip() == "1"
    assert two_workers.strip().isdigit()
