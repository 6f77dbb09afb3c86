"""Per test: a suite whose every test asks for ``barapi_token``, against the same suite on a
token fixture of its own.

Many small tests that each request ``barapi_token``, with the credentials in the environment
(the plugin masks them in every report from the start). The baseline is what a user would
write without the plugin: a session-scoped ``barapi_token`` fixture in ``conftest.py`` that
posts the same password grant with ``requests``, run under ``-p no:barapi``. Both get their
token from the same loopback endpoint (``echo_server.py``, its own process), once per run,
so both pay for importing ``requests`` and one exchange; what differs is the plugin's cost
around every test (its hooks, the report masking, the fixture). Runs alternate; the figure is
the median of the per-pair wall-time ratios, and of the CPU-time ratios.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from measure import Spread, Timing, clean_env, echo_server, timed_pytest
from startup import CREDENTIALS, Instructions, count_instructions

TESTS = textwrap.dedent(
    """
    import os

    import pytest


    @pytest.mark.parametrize("number", range(int(os.environ["BENCH_TESTS"])))
    def test_uses_the_token(barapi_token, number):
        assert barapi_token.access_token
    """
)
OWN_FIXTURE = textwrap.dedent(
    '''
    import os
    from types import SimpleNamespace

    import pytest
    import requests


    @pytest.fixture(scope="session")
    def barapi_token():
        """The token, exchanged once per run, the way a suite without the plugin does it."""
        response = requests.post(
            os.environ["BARAPI_URL"] + "/oauth/token",
            data={
                "grant_type": "password",
                "username": os.environ["BARAPI_USER"],
                "password": os.environ["BARAPI_PASSWORD"],
                "client_id": os.environ["BARAPI_CLIENT_ID"],
                "client_secret": os.environ["BARAPI_CLIENT_SECRET"],
            },
            timeout=30,
        )
        response.raise_for_status()
        return SimpleNamespace(**response.json())
    '''
)
WITH_PLUGIN = ("-q", "-p", "no:cacheprovider")
WITHOUT_PLUGIN = (*WITH_PLUGIN, "-p", "no:barapi")


@dataclass(frozen=True)
class PerTestResult:
    ratio: Spread
    with_plugin: Spread
    without_plugin: Spread
    cpu_ratio: Spread
    cpu_with_plugin: Spread
    cpu_without_plugin: Spread
    tests: int


def write_projects(workdir: Path) -> tuple[Path, Path]:
    """The same tests twice: on the plugin's fixture, and on a conftest fixture."""
    plugin, own = workdir / "per_test_plugin", workdir / "per_test_own_fixture"
    for root in (plugin, own):
        root.mkdir(parents=True, exist_ok=True)
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / "test_tokens.py").write_text(TESTS)
    (own / "conftest.py").write_text(OWN_FIXTURE)
    return plugin, own


def instructions(workdir: Path, tests: int) -> Instructions | str:
    """Instructions of one run each way (valgrind): a figure the machine's load does not move."""
    plugin, own = write_projects(workdir)
    with echo_server() as port:
        env = {**_env(port, tests), "PYTHONHASHSEED": "0"}
        timed_pytest(WITH_PLUGIN, plugin, env)  # bytecode caches written outside valgrind
        timed_pytest(WITHOUT_PLUGIN, own, env)
        return count_instructions((WITH_PLUGIN, plugin), (WITHOUT_PLUGIN, own), env)


def _env(port: str, tests: int) -> dict[str, str]:
    return clean_env(
        **{**CREDENTIALS, "BARAPI_URL": f"http://127.0.0.1:{port}"}, BENCH_TESTS=str(tests)
    )


def run(workdir: Path, pairs: int, tests: int, warm_up: bool = True) -> PerTestResult:
    plugin, own = write_projects(workdir)
    with echo_server() as port:
        env = _env(port, tests)

        def with_plugin() -> Timing:
            return timed_pytest(WITH_PLUGIN, plugin, env)

        def without_plugin() -> Timing:
            return timed_pytest(WITHOUT_PLUGIN, own, env)

        if warm_up:  # bytecode caches, the OS page cache
            with_plugin(), without_plugin()
        measured: list[tuple[Timing, Timing]] = []
        for pair in range(pairs):
            if pair % 2 == 0:
                a = with_plugin()
                measured.append((a, without_plugin()))
            else:
                b = without_plugin()
                measured.append((with_plugin(), b))
    return PerTestResult(
        ratio=Spread.of([a.wall / b.wall for a, b in measured]),
        with_plugin=Spread.of([a.wall for a, _ in measured]),
        without_plugin=Spread.of([b.wall for _, b in measured]),
        cpu_ratio=Spread.of([a.cpu / b.cpu for a, b in measured]),
        cpu_with_plugin=Spread.of([a.cpu for a, _ in measured]),
        cpu_without_plugin=Spread.of([b.cpu for _, b in measured]),
        tests=tests,
    )
