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

from tests import leak_matrix, reference_server
from tests.conftest import user_run_addopts
from tests.test_howto_work_at_a_terminal import FILE_KEYRING

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
# Ctrl-C ends the run with a KeyboardInterrupt, as at a terminal, also where this suite itself
# runs with SIGINT ignored (a script's background), which its subprocesses would inherit.
CTRL_C_AS_AT_A_TERMINAL = """
import signal

signal.signal(signal.SIGINT, signal.default_int_handler)
"""
# The token endpoint presses Ctrl-C on the run (its pid is in pid.txt) while it "thinks".
SAYS_ITS_PID = (
    CTRL_C_AS_AT_A_TERMINAL
    + """
import os
from pathlib import Path

Path("pid.txt").write_text(str(os.getpid()))
"""
)

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
# What Python prints of an exception that ends the run, besides a message: the command of a
# CalledProcessError, an OSError's file name, a note, a tuple argument, the exceptions of a
# group, the cause. Only the controller raises: it knows the password, no worker tells it.
SESSIONFINISH_RAISES_WHAT_IS_NOT_A_MESSAGE = """
import os, subprocess, sys

if sys.version_info < (3, 11):
    # pytest's own backport there: its tracebacks print a group and its notes as 3.11's do.
    from exceptiongroup import ExceptionGroup

def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        return
    password = os.environ["BARAPI_PASSWORD"]
    errors = []
    try:
        subprocess.run([sys.executable, "-c", "raise SystemExit(3)", password], check=True)
    except subprocess.CalledProcessError as error:
        errors.append(error)
    try:
        open(f"cleanup-{password}.lock")
    except OSError as error:
        errors.append(error)
    noted = RuntimeError("logout failed")
    note = f"while logging out with {password}"
    if sys.version_info < (3, 11):
        noted.__notes__ = [note]  # no add_note before 3.11: the backport prints __notes__
    else:
        noted.add_note(note)
    try:
        raise ValueError(("alice", password))
    except ValueError as cause:
        raise ExceptionGroup("cleanup failed", [*errors, noted]) from cause
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
# pytest colours the explanation of a failed assert (--color=yes, PY_COLORS, FORCE_COLOR): each
# quote, backslash, % or & of the password coloured apart, cutting it into short pieces.
COMPARES_COLOURED = """
import os

def test_compares_the_credentials(barapi_token):
    assert {"password": os.environ["BARAPI_PASSWORD"], "token": barapi_token.access_token} == {
        "password": "x", "token": "y"
    }
"""
# pytest-json-report copies the captured output and its own log records as it reads them, and
# writes what is not JSON (a tuple, bytes, requests' headers in a record's extra) by its str().
PRINTS_AND_LOGS = """
import logging, os
from requests.structures import CaseInsensitiveDict

def test_prints_and_logs(barapi_token, json_metadata):
    password = os.environ["BARAPI_PASSWORD"]
    print("token", barapi_token.access_token, "password", password)
    logging.getLogger("suite").warning("refresh %s", barapi_token.refresh_token)
    extra = {"login": ("alice", password), "raw": password.encode()}
    if "PYTEST_XDIST_WORKER" not in os.environ:  # a worker cannot send these (execnet)
        bearer = f"Bearer {barapi_token.access_token}"
        extra["headers"] = CaseInsensitiveDict({"Authorization": bearer})
    logging.getLogger("suite").warning("called", extra=extra)
    json_metadata["creds"] = ("alice", password, barapi_token.refresh_token)
    assert False
"""
# A password known only to the worker that exchanged it (barapi_session_factory), shown by an
# internal error of that worker.
WORKER_ONLY_PASSWORD = f"""
import os

SEEN = []

def test_other_user(barapi_session_factory):
    password = os.environ["OTHER_PASSWORD"]
    barapi_session_factory(user={reference_server.OTHER_USER!r}, password=password)
    SEEN.append(password)
"""
WORKER_INTERNAL_ERROR = """
import test_row

def pytest_runtest_logreport(report):
    if report.when == "call" and test_row.SEEN:
        password = test_row.SEEN[0]
        raise RuntimeError(f"worker broke holding {password}")
"""
# The controller's own conftest hook raises with it: the controller never exchanged it, the
# worker told it (issue 20 part 1).
CONTROLLER_RAISES = """
import os

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        raise RuntimeError(f"controller broke holding {os.environ['OTHER_PASSWORD']}")
"""
# A password the keyring gives on a person's machine: under pytest-xdist the worker that needs
# the token reads it, and only that worker knows it until it tells the controller. An internal
# error of that worker shows it.
KEYRING_WORKER_INTERNAL_ERROR = """
import json
import os
from pathlib import Path

# Not PYTEST_XDIST_WORKER: a run started from a worker of another run (this suite's) inherits it.
A_WORKER = []

def pytest_configure(config):
    A_WORKER.append(hasattr(config, "workerinput"))

def pytest_runtest_logreport(report):
    if report.when == "call" and A_WORKER[0]:
        store = json.loads(Path(os.environ["TEST_KEYRING"]).read_text())
        (password,) = (password for users in store.values() for password in users.values())
        raise RuntimeError(f"worker broke holding {password}")
"""


def _password_in_the_keyring(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    """A person's machine (CI unset) whose keyring holds the password, and none in the
    environment. The keyring's file lies outside the run's directory, which is grepped."""
    store = pytester.path.parent / f"{pytester.path.name}-keyring.json"
    store.write_text(json.dumps({os.environ["BARAPI_URL"]: {reference_server.USER: password}}))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BARAPI_PASSWORD")
    monkeypatch.setenv("TEST_KEYRING", str(store))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "file_keyring.FileKeyring")
    pytester.makepyfile(file_keyring=FILE_KEYRING)


# Every other encoding a secret takes: requests' own HTTP Basic (latin-1), the repr of its
# bytes, JSON escaping under repr, and what a child writes in UTF-16.
ENCODINGS = """
import base64, json, os, subprocess, sys, urllib.parse

def test_encodings(barapi_token):
    password = os.environ["BARAPI_PASSWORD"]
    token = barapi_token.access_token
    pair = f"{os.environ['BARAPI_USER']}:{password}".encode("latin-1")
    print("latin-1 basic", base64.b64encode(pair).decode())
    print("bytes", password.encode(), password.encode("latin-1"), token.encode())
    print("escaped", repr(json.dumps({"password": password, "token": token})))
    once = urllib.parse.quote(password, safe="")
    print("a URL in a query", urllib.parse.quote(once, safe=""), urllib.parse.quote_plus(once))
    code = "import sys; sys.stdout.buffer.write(sys.argv[1].encode('utf-16-le'))"
    subprocess.run([sys.executable, "-c", code, token], check=True)
    assert False
"""
# Prints from conftest hooks that run outside any test, with capture on.
PRINTS_IN_SESSION_HOOKS = """
import os

TOKENS = []

def pytest_sessionfinish(session):
    print("finished with", TOKENS, os.environ["BARAPI_PASSWORD"])

def pytest_terminal_summary(terminalreporter):
    print("summary", TOKENS)
"""
KEEPS_THE_TOKEN = """
import conftest

def test_keeps_the_token(barapi_token):
    conftest.TOKENS.append(barapi_token.access_token)
    conftest.TOKENS.append(barapi_token.refresh_token)
"""
# A token whose JSON answer holds a lone surrogate, and a password whose bytes are not UTF-8.
ODD_ACCESS = "odd-access-\udfff-token-Lz3kW8pQ"
ODD_PASSWORD = "fake-latin-1-pw-\udcf6-Qm4"
SHOWS_THE_PASSWORD = """
import os

def test_without_barapi():
    password = os.environ["BARAPI_PASSWORD"]
    assert ascii(password) == "x"

def test_with_barapi(barapi_token):
    pass
"""
SHOWS_THE_TOKEN = """
def test_shows_it(barapi_token):
    print(repr(barapi_token.access_token), ascii(barapi_token.access_token))
    assert barapi_token.access_token == "x"
"""
# A value the test got by itself, masked on its request.
SIGNED_URL = "https://files.example.test/report.pdf?sig=fake-Zq8vN3xT7mW2kR5y"
ASKS_TO_MASK = """
import logging, os

def test_gets_a_signed_url(barapi_mask):
    url = os.environ["SIGNED_URL"]  # as if from the API: not written in the test
    barapi_mask(url)
    print("download", url)
    logging.getLogger("suite").warning("signed %s", url)
    assert url == "x"
"""
# Under pytest-xdist the worker tells the controller what it was asked to mask, though it
# never needs a token: the controller's own hook raising with the value shows it masked.
CONTROLLER_RAISES_WITH_THE_URL = """
import os

def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):
        raise RuntimeError(f"cleanup failed for {os.environ['SIGNED_URL']}")
"""
# A __del__ that raises as the interpreter clears the test module, after pytest gave back
# sys.unraisablehook: Python prints "Exception ignored in" on its way out.
UNRAISABLE_AT_EXIT = """
class Client:
    def __init__(self, token):
        self.token = token

    def __del__(self):
        raise RuntimeError(f"logout failed for {self.token}")

KEEP = []

def test_keeps_a_client(barapi_token):
    KEEP.append(Client(barapi_token.access_token))
"""
# What a row's run holds besides the credentials: (tokens issued, pieces, escaping depth).
HOLDS = {
    "compared-tokens-of-one-issuer": (
        [ONE_ISSUER["access_token"], ONE_ISSUER["refresh_token"]],
        [ACCESS_TAIL, REFRESH_TAIL],
        2,
    ),
    "three-levels-of-escaping": ([CARRIED_ACCESS, CARRIED_REFRESH], [], 3),
    "lone-surrogate-token": ([ODD_ACCESS, CARRIED_REFRESH], [], 2),
    "barapi-mask": ([CARRIED_ACCESS, CARRIED_REFRESH, SIGNED_URL], [], 2),
    "barapi-mask-xdist-controller-hook": ([CARRIED_ACCESS, CARRIED_REFRESH, SIGNED_URL], [], 2),
}
# The environment a row's run gets besides BARAPI_*.
# Every BARAPI_* variable a row sets.
BARAPI_VARIABLES = ("URL", "USER", "PASSWORD", "CLIENT_ID", "CLIENT_SECRET")
ENVIRONMENT: dict[str, dict[str, str | None]] = {
    "colour-py-colors": {"PY_COLORS": "1"},
    "colour-force-color-xdist": {"FORCE_COLOR": "1", "PY_COLORS": None},  # pytester sets it
    "worker-only-password-xdist": {"OTHER_PASSWORD": leak_matrix.OTHER_PASSWORD},
    "worker-only-password-in-a-controller-hook": {"OTHER_PASSWORD": leak_matrix.OTHER_PASSWORD},
    # No barapi option set anywhere: the worker's line is there all the same.
    "worker-only-password-nothing-set": {
        "OTHER_PASSWORD": leak_matrix.OTHER_PASSWORD,
        **dict.fromkeys(f"BARAPI_{name}" for name in BARAPI_VARIABLES),
    },
    "non-utf-8-password": {"BARAPI_PASSWORD": ODD_PASSWORD},
    "barapi-mask": {"SIGNED_URL": SIGNED_URL},
    "barapi-mask-xdist-controller-hook": {"SIGNED_URL": SIGNED_URL},
    "pytest-json-report": {"PYTEST_ADDOPTS": user_run_addopts("pytest_jsonreport", "metadata")},
    "pytest-json-report-xdist": {
        "PYTEST_ADDOPTS": user_run_addopts("pytest_jsonreport", "metadata")
    },
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
    "ctrl-c-in-a-test": (
        SIGINT_IN_A_TEST,
        CTRL_C_AS_AT_A_TERMINAL,
        "--full-trace -l",
        ["KeyboardInterrupt !!!"],
        None,
    ),
    "pytest-exit": (EXIT_WITH_A_TOKEN, "", "-l", ["stopping: ********"], None),
    "error-in-sessionfinish": (
        SESSIONFINISH_TEST,
        SESSIONFINISH_RAISES,
        "-l --full-trace",
        ["cleanup failed for"],
        None,
    ),
    "error-in-sessionfinish-not-a-message": (
        "def test_needs_the_token(barapi_token): pass",
        SESSIONFINISH_RAISES_WHAT_IS_NOT_A_MESSAGE,
        "",
        ["CalledProcessError", "cleanup-", "while logging out with"],
        None,
    ),
    "error-in-sessionfinish-not-a-message-xdist": (
        "def test_needs_the_token(barapi_token): pass",
        SESSIONFINISH_RAISES_WHAT_IS_NOT_A_MESSAGE,
        "-n 2",
        ["CalledProcessError", "cleanup-", "while logging out with"],
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
    "colour-yes": (
        COMPARES_COLOURED,
        "",
        "--color=yes -vv --junitxml=junit.xml",
        ["AssertionError"],
        None,
    ),
    "colour-py-colors": (COMPARES_COLOURED, "", "-vv --junitxml=junit.xml", ["\x1b["], None),
    "colour-force-color-xdist": (
        COMPARES_COLOURED,
        "",
        "-n 2 -vv --junitxml=junit.xml",
        ["\x1b["],
        None,
    ),
    "pytest-json-report": (
        PRINTS_AND_LOGS,
        "",
        "--json-report --json-report-file=report.json",
        ["report saved to: report.json"],
        None,
    ),
    "pytest-json-report-xdist": (
        PRINTS_AND_LOGS,
        "",
        "-n 2 --json-report --json-report-file=report.json",
        ["report saved to: report.json"],
        None,
    ),
    "worker-only-password-xdist": (
        WORKER_ONLY_PASSWORD,
        WORKER_INTERNAL_ERROR,
        "-n 1 -l --full-trace",
        ["worker broke holding"],
        _answer_with_tokens(200, json.dumps(TOKENS)),
    ),
    "keyring-password-worker-internal-error": (
        "def test_needs(barapi_token): pass",
        KEYRING_WORKER_INTERNAL_ERROR,
        "-n 2 -l --full-trace",
        ["worker broke holding", "barapi: password from the keyring"],
        _answer_with_tokens(200, json.dumps(TOKENS)),
    ),
    "worker-only-password-in-a-controller-hook": (
        WORKER_ONLY_PASSWORD,
        CONTROLLER_RAISES,
        "-n 1 -l --full-trace",
        ["controller broke holding"],
        _answer_with_tokens(200, json.dumps(TOKENS)),
    ),
    "worker-only-password-nothing-set": (
        WORKER_ONLY_PASSWORD,
        CONTROLLER_RAISES,
        "-n 1 -l --full-trace",
        ["controller broke holding"],
        _answer_with_tokens(200, json.dumps(TOKENS)),
    ),
    "encodings": (ENCODINGS, "", "-l --junitxml=junit.xml", ["latin-1 basic"], None),
    "prints-in-session-hooks": (
        KEEPS_THE_TOKEN,
        PRINTS_IN_SESSION_HOOKS,
        "",
        ["finished with", "summary"],
        None,
    ),
    # A run with -m "not barapi" used to crash on it: the masking now starts at once.
    "non-utf-8-password": (
        SHOWS_THE_PASSWORD,
        "",
        "-l --junitxml=junit.xml",
        ["1 failed, 1 error"],
        _answer_with_tokens(200, json.dumps(TOKENS)),
    ),
    "lone-surrogate-token": (
        SHOWS_THE_TOKEN,
        "",
        "-l --junitxml=junit.xml",
        ["1 failed"],
        _answer_with_tokens(
            200,
            '{"access_token": "odd-access-\\udfff-token-Lz3kW8pQ", "token_type": "Bearer",'
            f' "refresh_token": "{CARRIED_REFRESH}"}}',
        ),
    ),
    "barapi-mask": (
        ASKS_TO_MASK,
        "",
        "-l --junitxml=junit.xml",
        ["download"],
        _answer_with_tokens(200, json.dumps(TOKENS)),
    ),
    "unraisable-at-exit": (UNRAISABLE_AT_EXIT, "", "", ["Exception ignored in"], None),
    "unraisable-at-exit-xdist": (UNRAISABLE_AT_EXIT, "", "-n 1", ["Exception ignored in"], None),
    "barapi-mask-xdist-controller-hook": (
        ASKS_TO_MASK,
        CONTROLLER_RAISES_WITH_THE_URL,
        "-n 2",
        ["cleanup failed for"],
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
    for name, value in ENVIRONMENT.get(row, {}).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    if "BARAPI_PASSWORD" in ENVIRONMENT.get(row, {}):
        leakable.credentials[0] = ODD_PASSWORD
        leakable.pairs[1] = (leakable.pairs[1][0], leakable.credentials[0])
    if "OTHER_PASSWORD" in ENVIRONMENT.get(row, {}):
        leakable.credentials.append(leak_matrix.OTHER_PASSWORD)
    if row.startswith("keyring-password"):
        _password_in_the_keyring(pytester, monkeypatch, leakable.credentials[0])
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


SHORT_TOKENS = {"access_token": "FAILED", "token_type": "Bearer", "refresh_token": "e"}
SHOWS_SHORT_SECRETS = """
import os

def test_shows_them(barapi_token):
    print(f"password={os.environ['BARAPI_PASSWORD']}")
    print("refresh:", barapi_token.refresh_token)
    assert barapi_token.access_token == "y"
"""


@pytest.mark.parametrize("password", ["x", "1"])
@pytest.mark.parametrize("masking", ["masked", "control"])
def test_a_secret_too_short_to_mask_everywhere_is_masked_as_a_value_and_named_in_a_warning(
    pytester: pytest.Pytester,
    token_endpoint: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    masking: str,
    password: str,
) -> None:
    """A password ``x`` (or ``1``) and tokens ``FAILED`` and ``e``: masking every ``x``, ``e``
    and ``FAILED`` would leave nothing to read. Each is masked where it stands as a value, and
    the run says which secrets are that short, by what they are, never by value. A value
    stands after one ``=``, not after the ``=====`` of pytest's summary line."""
    _answer_with_tokens(200, json.dumps(SHORT_TOKENS))(token_endpoint)  # type: ignore[operator]
    monkeypatch.setenv("BARAPI_PASSWORD", password)
    pytester.makeconftest(MASKING_OFF if masking == "control" else "")
    pytester.makepyfile(test_row=SHOWS_SHORT_SECRETS)

    result = pytester.runpytest_subprocess("-rA")

    output = "\n".join(result.outlines + result.errlines)
    # Readable: what holds these letters inside words stays as it was.
    assert "platform linux" in output
    assert " 1 failed in " in output
    assert "FAILED test_row.py::test_shows_them" in output
    if masking == "control":
        assert f"password={password}" in output  # the row's control: the values do show
        assert "refresh: e" in output
        return
    assert "password=********" in output
    assert "refresh: ********" in output
    assert "assert '********' == 'y'" in output
    # pytest's diff shows the compared token whole on a line of its own, after "+ ".
    assert "E         + ********" in result.outlines
    assert "E         + FAILED" not in result.outlines
    for kind in ("access_token", "password", "refresh_token"):
        assert (
            f"barapi: warning: the {kind} is shorter than 8 characters: it is masked only where "
            "it stands as a whole value (quoted, in parentheses, after = or :, alone on a line or "
            "the rest of a diff's line)"
        ) in result.outlines


SHORT_PASSWORD = "hunter2"
# A short password in the shapes of a whole value that a run shows besides quotes and "=":
# pytest's diff of two compared texts (each line whole after "+ " or "- "), a URL's userinfo,
# the end of a sentence, parentheses.
SHOWS_A_SHORT_PASSWORD = """
import os

def test_compares_it(barapi_token):
    assert os.environ["BARAPI_PASSWORD"] == "y"

def test_shows_it(barapi_token):
    password = os.environ["BARAPI_PASSWORD"]
    print(f"http://alice:{password}@barapi.test/", f"password={password}.", f"({password})")
    assert "y" == password
"""


@pytest.mark.parametrize(
    "flags", ["-rA --junitxml=junit.xml", "-rA -n 2", "-rA --color=yes", "-rA --tb=native"]
)
@pytest.mark.parametrize("masking", ["masked", "control"])
def test_a_short_password_is_masked_where_pytests_diff_shows_it_whole(
    pytester: pytest.Pytester,
    token_endpoint: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    masking: str,
    flags: str,
) -> None:
    _answer_with_tokens(200, json.dumps(TOKENS))(token_endpoint)  # type: ignore[operator]
    monkeypatch.setenv("BARAPI_PASSWORD", SHORT_PASSWORD)
    pytester.makeconftest(MASKING_OFF if masking == "control" else "")
    pytester.makepyfile(test_row=SHOWS_A_SHORT_PASSWORD)

    result = pytester.runpytest_subprocess(*flags.split())

    result.assert_outcomes(failed=2)
    found = leak_matrix.leaks(
        result,
        pytester.path,
        leak_matrix.Leakable(credentials=[SHORT_PASSWORD, CARRIED_ACCESS], pairs=[]),
    )
    if masking == "control":
        assert found != [], "with the masker off the password must show, or this tests nothing"
        return
    assert found == []
    output = leak_matrix.UNSEEN.sub(b"", "\n".join(result.outlines).encode()).decode()
    assert "+ ********" in output
    assert "http://alice:********@barapi.test/ password=********. (********)" in output


ASKS_TO_MASK_A_SHORT_CODE = """
def test_gets_a_code(barapi_mask):
    barapi_mask("k3y9")
"""


@pytest.mark.parametrize("flags", [[], ["-n", "2"]])
def test_a_short_value_given_to_barapi_mask_is_named_in_a_warning_under_xdist_too(
    pytester: pytest.Pytester, flags: list[str]
) -> None:
    """Only the worker that ran the test knows the value: it tells the controller, which
    prints the run's summary."""
    pytester.makepyfile(test_row=ASKS_TO_MASK_A_SHORT_CODE)

    result = pytester.runpytest_subprocess(*flags)

    result.assert_outcomes(passed=1)
    assert (
        "barapi: warning: the value given to barapi_mask is shorter than 8 characters: it is "
        "masked only where it stands as a whole value (quoted, in parentheses, after = or :, "
        "alone on a line or the rest of a diff's line)"
    ) in result.outlines
