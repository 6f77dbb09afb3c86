"""The example suite in examples/: runs offline from its committed cassettes, holds no secret,
and runs live (or re-records) against the reference server with the README's commands.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import reference_server
from tests.reference_server import ReferenceServer
from tests.secret_forms import forms

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_TESTS = 4


def copy_examples(to: Path) -> Path:
    target = to / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


def test_the_example_suite_passes_offline(pytester: pytest.Pytester) -> None:
    copy_examples(pytester.path)
    # No BARAPI_* variable is set (conftest's autouse fixture removed a developer's own).

    result = pytester.runpytest("examples", "--record-mode=none", "--block-network")

    result.assert_outcomes(passed=EXAMPLE_TESTS)


def test_the_example_suite_replays_whatever_barapi_variables_the_shell_holds(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user who followed the Quickstart has BARAPI_* set for their own barapi; the example
    pins its own settings, so README's "Try it" still replays."""
    copy_examples(pytester.path)
    shell = {
        "BARAPI_URL": "https://barapi.example.com",
        "BARAPI_USER": "someone@example.com",
        "BARAPI_PASSWORD": "their-own-password",
        "BARAPI_CLIENT_ID": "their-client-id",
        "BARAPI_CLIENT_SECRET": "their-client-secret",
        "BARAPI_SCOPE": "read",
        "BARAPI_CASSETTE": "tests/cassettes/barapi_token.yaml",
    }
    for name, value in shell.items():
        monkeypatch.setenv(name, value)

    result = pytester.runpytest("examples", "--record-mode=none", "--block-network")

    result.assert_outcomes(passed=EXAMPLE_TESTS)
    result.stdout.fnmatch_lines(["barapi: url: http://127.0.0.1:8765 (cli), *"])


def test_the_example_cassettes_hold_no_secret() -> None:
    cassettes = sorted(EXAMPLES.glob("cassettes/**/*.yaml"))
    token_cassette = EXAMPLES / "cassettes" / "barapi_token.yaml"
    assert token_cassette in cassettes
    assert len(cassettes) == EXAMPLE_TESTS  # the token's, and one per @pytest.mark.vcr test

    for cassette in cassettes:
        text = cassette.read_text()
        for secret in (reference_server.PASSWORD, reference_server.CLIENT_SECRET):
            for form in forms(secret):
                assert form not in text, f"{cassette} holds a secret"
        # Every token the reference server issues starts so.
        assert "fake-access-" not in text
        assert "fake-refresh-" not in text
        for interaction in yaml.safe_load(text)["interactions"]:
            headers = interaction["request"]["headers"]
            assert headers.get("Authorization", ["Bearer placeholder-access-token"]) == [
                "Bearer placeholder-access-token"
            ]
            assert "cookie" not in {name.lower() for name in headers}

    token_text = token_cassette.read_text()
    for identifier in (reference_server.USER, reference_server.CLIENT_ID):
        for form in forms(identifier):
            assert form not in token_text
    assert "placeholder-access-token" in token_text


def test_the_example_suite_runs_live_against_the_reference_server(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    examples = copy_examples(pytester.path)
    before = {p: p.read_bytes() for p in examples.rglob("*.yaml")}

    # The reference server on a free port, not the one the example pins.
    result = pytester.runpytest(
        "examples", "--disable-recording", f"--barapi-url={barapi_server.url}"
    )

    result.assert_outcomes(passed=EXAMPLE_TESTS)
    assert barapi_server.token_request_count == 1
    assert barapi_server.api_requests == 4
    assert {p: p.read_bytes() for p in examples.rglob("*.yaml")} == before


def test_the_reference_server_entry_records_the_examples(tmp_path: Path) -> None:
    examples = copy_examples(tmp_path)
    # No BARAPI_* variable is set: the reference server's entry sets them for the command.

    # The README's re-record command, on a free port instead of the examples' fixed one.
    port = free_port()
    serve = [sys.executable, "-m", "tests.reference_server", "--port", str(port)]
    record = [sys.executable, "-m", "pytest", str(examples), "--record-mode=rewrite"]
    record.append(f"--barapi-url=http://127.0.0.1:{port}")
    run = subprocess.run(
        [*serve, *record, "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{EXAMPLE_TESTS} passed" in run.stdout
    assert "reference barapi: 1 token request(s), 4 API request(s)" in run.stdout
    recorded = yaml.safe_load((examples / "cassettes" / "barapi_token.yaml").read_text())
    assert recorded["interactions"][0]["request"]["uri"] == f"http://127.0.0.1:{port}/oauth/token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
