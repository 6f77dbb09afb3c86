"""Per request: ``barapi_session`` against a bare ``requests.Session`` with the same header.

Both run inside one real pytest run (so ``barapi_session`` is exactly what a test gets from
the fixture) against the same loopback server, in rounds of GETs; the order alternates each
round. The figure is the median of the per-round ratios of wall time, and of the client
process's CPU time (the server is another process), which the machine's load disturbs less.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from measure import Spread, clean_env, echo_server
from startup import CREDENTIALS

TEST = textwrap.dedent(
    """
    import json
    import os
    import time

    import requests


    def test_rounds(barapi_session, barapi_token):
        rounds = int(os.environ["BENCH_ROUNDS"])
        per_round = int(os.environ["BENCH_REQUESTS"])
        url = os.environ["BARAPI_URL"] + "/v1/me"
        timeout = barapi_session.timeout
        bare = requests.Session()
        bare.headers["Authorization"] = "Bearer " + barapi_token.access_token

        def plugin():
            response = barapi_session.get("/v1/me")
            assert response.status_code == 200

        def plain():
            response = bare.get(url, timeout=timeout)
            assert response.status_code == 200

        def timed(call):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                call()
            return time.perf_counter() - wall, time.process_time() - cpu

        timed(plugin), timed(plain)  # warm-up: connections, caches
        times = {"plugin": [], "plain": []}
        for number in range(rounds):
            order = (("plugin", plugin), ("plain", plain))
            for name, call in order if number % 2 == 0 else reversed(order):
                times[name].append(timed(call))
        with open(os.environ["BENCH_OUT"], "w") as out:
            json.dump(times, out)
    """
)


@dataclass(frozen=True)
class PerRequestResult:
    ratio: Spread
    plugin_us: Spread
    plain_us: Spread
    cpu_ratio: Spread
    plugin_cpu_us: Spread
    plain_cpu_us: Spread
    per_round: int


def run(workdir: Path, rounds: int, per_round: int) -> PerRequestResult:
    project = workdir / "per_request"
    project.mkdir(parents=True, exist_ok=True)
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_rounds.py").write_text(TEST)
    out = project / "times.json"

    with echo_server() as port:
        env = clean_env(
            **{**CREDENTIALS, "BARAPI_URL": f"http://127.0.0.1:{port}"},
            BENCH_ROUNDS=str(rounds),
            BENCH_REQUESTS=str(per_round),
            BENCH_OUT=str(out),
        )
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"per-request run failed:\n{result.stdout}")

    times = json.loads(out.read_text())
    pairs = list(zip(times["plugin"], times["plain"], strict=True))

    def micros(sample: list[list[float]], index: int) -> Spread:
        return Spread.of([t[index] / per_round * 1e6 for t in sample])

    return PerRequestResult(
        ratio=Spread.of([a[0] / b[0] for a, b in pairs]),
        plugin_us=micros(times["plugin"], 0),
        plain_us=micros(times["plain"], 0),
        cpu_ratio=Spread.of([a[1] / b[1] for a, b in pairs]),
        plugin_cpu_us=micros(times["plugin"], 1),
        plain_cpu_us=micros(times["plain"], 1),
        per_round=per_round,
    )
