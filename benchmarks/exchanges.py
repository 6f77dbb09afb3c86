"""Exchanges: how many token requests a whole run costs, counted at the reference server.

Suites of 1, 100 and 1000 tests that use ``barapi_token`` run live (without xdist and at
``-n 1/2/4``) and in replay from a cassette recorded once (``--barapi-cassette PATH
--record-mode=once``, then ``--record-mode=none``). Only the public interface is used, so this
measures whatever the installed plugin does; a part it does not implement is reported as
"n/a" with the reason, not as a crash.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from measure import clean_env

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import reference_server  # noqa: E402

CASSETTE = "cassettes/barapi.yaml"
Counted = Callable[[Sequence[str]], tuple[int, "subprocess.CompletedProcess[str]"]]


@dataclass(frozen=True)
class Column:
    """One way of running a suite: live, or replaying the cassette."""

    title: str
    args: tuple[str, ...] = ()
    replay: bool = False


@dataclass
class ExchangeResult:
    columns: Sequence[Column]
    # counts[tests][column title] -> "1", "0", "n/a", "3 (exit 1)", ...
    counts: dict[int, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def columns(workers: Sequence[int], replay_workers: Sequence[int]) -> list[Column]:
    found = [Column("no xdist")]
    found += [Column(f"-n {n}", ("-n", str(n))) for n in workers]
    found += [
        Column("replay" + (f" -n {n}" if n else ""), ("-n", str(n)) if n else (), replay=True)
        for n in replay_workers
    ]
    return found


def write_suite(root: Path, tests: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "test_suite.py").write_text(
        textwrap.dedent(
            f"""
            import pytest

            @pytest.mark.parametrize("n", range({tests}))
            def test_uses_the_token(barapi_token, n):
                assert barapi_token.access_token
            """
        )
    )


def run(workdir: Path, sizes: Sequence[int], cols: Sequence[Column]) -> ExchangeResult:
    from pytest_httpserver import HTTPServer

    # werkzeug logs every request at INFO; the table is the output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    httpserver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    httpserver.start()
    try:
        server = reference_server.ReferenceServer(httpserver)
        env = clean_env(
            BARAPI_URL=server.url,
            BARAPI_USER=reference_server.USER,
            BARAPI_PASSWORD=reference_server.PASSWORD,
            BARAPI_CLIENT_ID=reference_server.CLIENT_ID,
            BARAPI_CLIENT_SECRET=reference_server.CLIENT_SECRET,
        )
        result = ExchangeResult(cols)
        for tests in sizes:
            project = workdir / f"exchanges_{tests}"
            write_suite(project, tests)
            result.counts[tests] = _row(project, tests, cols, server, env, result.notes)
        return result
    finally:
        httpserver.stop()


def _row(
    project: Path,
    tests: int,
    cols: Sequence[Column],
    server: reference_server.ReferenceServer,
    env: dict[str, str],
    notes: list[str],
) -> dict[str, str]:
    def counted(args: Sequence[str]) -> tuple[int, subprocess.CompletedProcess[str]]:
        before = server.token_request_count
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        return server.token_request_count - before, done

    row: dict[str, str] = {}
    replay_ready = None
    for column in cols:
        if column.replay:
            if replay_ready is None:
                replay_ready = _record(project, counted, notes)
            if not replay_ready:
                row[column.title] = "n/a"
                continue
            args = ["--barapi-cassette", CASSETTE, "--record-mode=none", *column.args]
        else:
            args = list(column.args)
        count, done = counted(args)
        row[column.title] = (
            str(count) if done.returncode == 0 else f"{count} (exit {done.returncode})"
        )
        if done.returncode != 0:
            notes.append(f"{tests} tests, {column.title}: pytest exited {done.returncode}")
    return row


def _record(project: Path, counted: Counted, notes: list[str]) -> bool:
    """Record the cassette once; False (with a note) if this plugin cannot."""
    cassette = project / CASSETTE
    cassette.unlink(missing_ok=True)
    _, done = counted(["--barapi-cassette", CASSETTE, "--record-mode=once"])
    if done.returncode == 4:
        note = "replay: n/a, --barapi-cassette is not an option of this plugin"
    elif done.returncode != 0:
        note = f"replay: n/a, the recording run exited {done.returncode}"
    elif not cassette.exists():
        note = "replay: n/a, --barapi-cassette is accepted but no cassette was written"
    else:
        return True
    if note not in notes:
        notes.append(note)
    return False
