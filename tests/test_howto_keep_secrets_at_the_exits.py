"""Secrets are masked where text leaves the process, not only in the reports pytest keeps.

Each row is a way a run can end or write outside the reports: an interrupt with frames full of
locals, ``pytest.exit``, an error in a conftest hook, junit xml attributes and suite
properties, an answer the exchange does not accept. Every row runs twice: masked, where no
form of any secret may show in any output or file; and as a control with the masker switched
off in the user's conftest, where the same grep must find a leak, so the row cannot pass by
testing nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests import leak_matrix

# The user's conftest for the control runs: the masker lets everything through.
MASKING_OFF = """
import pytest_barapi.masking

pytest_barapi.masking.Masker.mask = lambda self, text: text
"""

SIGINT_DURING_THE_EXCHANGE = """
import os
from pathlib import Path

def test_needs_the_token(barapi_token):
    pass
"""
# The token endpoint presses Ctrl-C on the run (its pid is in pid.txt) while it "thinks".
SAYS_ITS_PID = """
import os
from pathlib import Path

Path("pid.txt").write_text(str(os.getpid()))
"""

SIGINT_IN_A_TEST = """
import os, signal, time

import pytest

@pytest.fixture
def tokens(barapi_token):
    return barapi_token.access_token, barapi_token.refresh_token

def test_holds_the_token(tokens):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
"""

EXIT_WITH_A_TOKEN = """
import pytest

def test_exits(barapi_token):
    pytest.exit(f"stopping: {barapi_token.access_token} {barapi_token.refresh_token}")
"""

JUNIT_ATTRIBUTES = """
import os

def test_records_attributes(record_xml_attribute, record_testsuite_property, barapi_token):
    record_xml_attribute("token", barapi_token.access_token)
    record_testsuite_property("refresh", barapi_token.refresh_token)
    record_testsuite_property("password", os.environ["BARAPI_PASSWORD"])
"""

SESSIONFINISH_RAISES = """
import os

TOKENS = []

def pytest_sessionfinish(session):
    raise RuntimeError(f"cleanup failed for {TOKENS} with {os.environ['BARAPI_PASSWORD']}")
"""
SESSIONFINISH_TEST = """
import conftest

def test_keeps_the_token(barapi_token):
    conftest.TOKENS.append(barapi_token.access_token)
"""


def _pressing_ctrl_c(pytester: pytest.Pytester) -> object:
    def answer(httpserver: HTTPServer) -> None:
        def ctrl_c_then_slow(request: Request) -> Response:
            run = int((pytester.path / "pid.txt").read_text())
            os.kill(run, signal.SIGINT)
            # "Thinks" until the run has ended (at most 3 s): the server answers one request
            # at a time, so sleeping on would hold up the next row's exchange.
            with contextlib.suppress(ProcessLookupError):
                for _ in range(300):
                    os.kill(run, 0)
                    time.sleep(0.01)
            return Response("{}", 500, content_type="application/json")

        httpserver.expect_request("/oauth/token").respond_with_handler(ctrl_c_then_slow)

    return answer


def _answer_with_tokens(status: int, body: str) -> object:
    def answer(httpserver: HTTPServer) -> None:
        httpserver.expect_request("/oauth/token").respond_with_data(
            body, status=status, content_type="application/json"
        )

    return answer


CARRIED_ACCESS = "carried-access-token-Xt5pQ9wL"
CARRIED_REFRESH = "carried-refresh-token-Rk2mN8vB"
TOKENS = {"access_token": CARRIED_ACCESS, "token_type": "Bearer", "refresh_token": CARRIED_REFRESH}

# Tokens of one issuer, as JWTs are: the same 40-character head, then what tells them apart.
ISSUER_HEAD = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJiYXJhcGkifQ"
ACCESS_TAIL = ".access-Tq7wZ2kM9xR4"
REFRESH_TAIL = ".refresh-Hn3vB8cJ5yL1"
ONE_ISSUER = {
    "access_token": ISSUER_HEAD + ACCESS_TAIL,
    "token_type": "Bearer",
    "refresh_token": ISSUER_HEAD + REFRESH_TAIL,
}
COMPARES_THE_TOKENS = """
def test_the_tokens_differ(barapi_token):
    assert barapi_token.access_token == barapi_token.refresh_token
"""
# The repr of an AssertionError (pytest's frame locals, under -l --full-trace) whose message
# holds the repr of a JSON string: the password's quotes and backslashes escaped three times.
ESCAPED_THREE_TIMES = """
import json, os

def test_the_body(barapi_token):
    body = json.dumps({"password": os.environ["BARAPI_PASSWORD"]})
    assert body == "{}"
"""
# What a row's run holds besides the credentials: (tokens issued, pieces, escaping depth).
HOLDS = {
    "compared-tokens-of-one-issuer": (
        [ONE_ISSUER["access_token"], ONE_ISSUER["refresh_token"]],
        [ACCESS_TAIL, REFRESH_TAIL],
        2,
    ),
    "three-levels-of-escaping": ([CARRIED_ACCESS, CARRIED_REFRESH], [], 3),
}

# name: (test files, extra conftest, flags, what the run must show, the server)
ROWS = {
    "ctrl-c-during-the-exchange": (
        SIGINT_DURING_THE_EXCHANGE,
        SAYS_ITS_PID,
        "--full-trace -l",
        ["KeyboardInterrupt !!!"],
        _pressing_ctrl_c,
    ),
    "ctrl-c-in-a-test": (SIGINT_IN_A_TEST, "", "--full-trace -l", ["KeyboardInterrupt !!!"], None),
    "pytest-exit": (EXIT_WITH_A_TOKEN, "", "-l", ["stopping: ********"], None),
    "error-in-sessionfinish": (
        SESSIONFINISH_TEST,
        SESSIONFINISH_RAISES,
        "-l --full-trace",
        ["cleanup failed for"],
        None,
    ),
    "junit-attributes-and-suite-properties": (
        JUNIT_ATTRIBUTES,
        "",
        "--junitxml=junit.xml -o junit_family=xunit1",
        ["generated xml file"],
        None,
    ),
    "answer-201-with-tokens": (
        "def test_needs(barapi_token): pass",
        "",
        "-l",
        ["HTTP 201"],
        _answer_with_tokens(201, json.dumps(TOKENS)),
    ),
    "answer-json-array-with-tokens": (
        "def test_needs(barapi_token): pass",
        "",
        "-l",
        ["JSON but not an object"],
        _answer_with_tokens(200, json.dumps([TOKENS])),
    ),
    "answer-bom-before-json": (
        "def test_needs(barapi_token): pass",
        "",
        "-l",
        ["not JSON"],
        _answer_with_tokens(200, "\ufeff" + json.dumps(TOKENS)),
    ),
    "compared-tokens-of-one-issuer": (
        COMPARES_THE_TOKENS,
        "",
        "",
        ["identical leading characters"],
        _answer_with_tokens(200, json.dumps(ONE_ISSUER)),
    ),
    "three-levels-of-escaping": (
        ESCAPED_THREE_TIMES,
        "",
        "-l --full-trace",
        ['assert body == "{}"'],
        _answer_with_tokens(200, json.dumps(TOKENS)),
    ),
}


@pytest.mark.parametrize("masking", ["masked", "control"])
@pytest.mark.parametrize("row", list(ROWS))
def test_no_secret_leaves_by_any_exit(
    pytester: pytest.Pytester,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    row: str,
    masking: str,
) -> None:
    tests, conftest, flags, must_show, answer = ROWS[row]
    if answer is None:
        server = leak_matrix._leaky_server(httpserver)
        leakable = leak_matrix._credentials(monkeypatch, server.url)
        leakable.issued = server.issued_secrets
    else:
        if answer is _pressing_ctrl_c:
            answer = _pressing_ctrl_c(pytester)
        answer(httpserver)  # type: ignore[operator]
        leakable = leak_matrix._credentials(monkeypatch, httpserver.url_for("").rstrip("/"))
        issued, leakable.pieces, leakable.depth = HOLDS.get(
            row, ([CARRIED_ACCESS, CARRIED_REFRESH], [], 2)
        )
        leakable.issued = lambda: issued
        monkeypatch.setenv("BARAPI_TIMEOUT", "1")
    pytester.makeconftest(conftest + (MASKING_OFF if masking == "control" else ""))
    pytester.makepyfile(test_row=tests)

    result = pytester.runpytest_subprocess(*flags.split(), timeout=60)

    output = "\n".join(result.outlines + result.errlines)
    for shown in must_show:
        if masking == "control" and "********" in shown:
            continue
        assert shown in output, f"the run did not show {shown!r}: it did not run as meant"
    found = leak_matrix.leaks(result, pytester.path, leakable)
    if masking == "masked":
        assert found == []
    else:
        assert found != [], "with the masker off this row must leak, or it tests nothing"


def test_a_print_under_capture_tee_sys_shows_on_the_terminal(
    pytester: pytest.Pytester, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A known limit, like ``-s``: ``--capture=tee-sys`` copies prints to the terminal as the
    test writes them, before any report exists. (The captured copy in the report is masked.)"""
    leakable = leak_matrix.leaky_tests(pytester, httpserver, monkeypatch)
    result = pytester.runpytest_subprocess("--capture=tee-sys", "-k", "prints_and_passes")
    result.assert_outcomes(passed=1)
    assert any(
        hit.startswith("stdout:") for hit in leak_matrix.leaks(result, pytester.path, leakable)
    )
