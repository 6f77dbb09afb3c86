"""How pytest-barapi keeps the password, client secret and tokens out of every output.

CI logs are read by many and often public. pytest prints fixture values, locals and
assertion operands in failure reports, so the plugin masks every known secret in reports,
log output and warnings before any reporter sees them. The leak matrix below runs user suites
that leak on purpose, with the flags that show the most, and greps everything for secrets.
"""

from __future__ import annotations

import base64
import json
import logging
import pickle
import re
from urllib.parse import quote_plus

import pytest
from pytest_httpserver import HTTPServer

from pytest_barapi import Secret
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.masking import Masker
from tests import leak_matrix, reference_server
from tests.reference_server import ReferenceServer

# Flag sets, named so a row reads as what it shows.
FLAGS = {
    "verbose": "-vv -l --tb=long -rA --setup-show",
    "full-trace": "--full-trace -l",
    "files": "--junitxml=junit.xml -o junit_logging=all --log-file=run.log --log-file-level=DEBUG",
    "live-log": "--tb=short -rA --log-cli-level=DEBUG",
    "debug": "--tb=native -l --debug=debug.log",
    "xdist": "-n 2 -l -rA",
}

# Each row runs a suite of tests/leak_matrix.py with some flag sets; no form of any secret
# may show in the output or in any file the run left. Add rows (and suites) freely.
MATRIX = [
    ("leaky_tests", "verbose"),
    ("leaky_tests", "full-trace files"),
    ("leaky_tests", "live-log"),
    ("leaky_tests", "debug"),
    ("leaky_tests", "xdist files"),
    ("recording", "verbose files"),
    ("recording", "xdist files"),
    ("identities", "verbose files"),
    ("identities", "xdist files"),
    ("renewal", "full-trace verbose files"),
    ("collect_error", "verbose files"),
    ("collect_error", "full-trace"),
    ("wrong_password", "verbose files"),
    ("wrong_password", "full-trace"),
    ("wrong_password", "xdist files"),
    ("server_error", "full-trace verbose files"),
    ("refused", "full-trace verbose files"),
    ("late_secrets", "verbose files"),
    ("late_secrets", "live-log"),
    ("late_secrets", "xdist files"),
]


@pytest.mark.parametrize(
    ("suite", "flag_sets"),
    MATRIX,
    ids=[f"{suite}-{sets.replace(' ', '+')}" for suite, sets in MATRIX],
)
def test_no_secret_shows_in_any_output_or_file(
    pytester: pytest.Pytester,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    suite: str,
    flag_sets: str,
) -> None:
    leakable = leak_matrix.SUITES[suite](pytester, httpserver, monkeypatch)
    args = " ".join(FLAGS[name] for name in flag_sets.split()).split()
    # The xdist rows run pytest in a subprocess: its workers write to its stderr, which the
    # grep must see (an in-process run's workers would write to this process's stderr).
    result = pytester.runpytest_subprocess(*args) if "-n" in args else pytester.runpytest(*args)

    output = "\n".join(result.outlines + result.errlines)
    assert "INTERNALERROR" not in output
    assert result.ret != 0, "every suite has failing tests"
    for shown in leakable.must_show:
        assert shown in output, f"the run did not show {shown!r}: it did not run as meant"
    assert leak_matrix.leaks(result, pytester.path, leakable) == []


def test_a_test_that_prints_a_token_under_dash_s_shows_it(
    pytester: pytest.Pytester, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The known limit: with capture off (-s), a print goes straight to the terminal.

    Also proves the matrix's grep finds a leak when there is one.
    """
    leakable = leak_matrix.leaky_tests(pytester, httpserver, monkeypatch)
    result = pytester.runpytest("-s", "-k", "prints_and_passes")
    result.assert_outcomes(passed=1)
    assert any(
        hit.startswith("stdout:") for hit in leak_matrix.leaks(result, pytester.path, leakable)
    )


def test_a_secret_is_masked_in_repr_str_and_fstrings_and_cannot_be_measured_or_pickled() -> None:
    secret = Secret(reference_server.PASSWORD)
    assert repr(secret) == "Secret('********')"
    assert str(secret) == f"{secret}" == f"{secret:>30}" == "********"
    assert secret.reveal() == reference_server.PASSWORD
    with pytest.raises(TypeError):
        len(secret)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)


def test_the_token_and_the_session_auth_hide_their_tokens(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        def test_reprs(barapi_token, barapi_session):
            print(repr(barapi_token), str(barapi_token), repr(barapi_session.auth))
            print(repr(barapi_session))
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*BarapiToken(token_type='Bearer', expires_at=*, access_token=<hidden>, "
            "refresh_token=<hidden>)*BearerAuth(origin='http://*', token=<hidden>)*"
        ]
    )
    # -s: nothing between print and the terminal, so these reprs are all that protects it.
    for token in barapi_server.issued_secrets():
        assert token not in result.stdout.str()


def test_a_token_cut_short_by_pytest_is_masked_too(
    pytester: pytest.Pytester, token_endpoint: HTTPServer
) -> None:
    """pytest shortens long reprs to ``head...tail``; both halves of a long token are masked."""
    token = "fake-long-token-" + "".join(f"{n:04d}" for n in range(150))
    token_endpoint.expect_request("/oauth/token").respond_with_json(
        {"access_token": token, "token_type": "Bearer", "expires_in": 31622400}
    )
    pytester.makepyfile(
        """
        def test_compares(barapi_token):
            assert barapi_token.access_token == "x"
        """
    )
    result = pytester.runpytest("-l")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "..." in output, "pytest no longer shortens long reprs: this test needs a new way"
    pieces = {token[i : i + 12] for i in range(len(token) - 12)}
    assert [piece for piece in pieces if piece in output] == []


def test_every_form_of_a_known_secret_is_masked_and_nothing_else() -> None:
    secret = 'fake s3cret/"+&'
    known = KnownSecrets()
    known.add_pair("my-client", secret)
    basic = base64.b64encode(f"my-client:{secret}".encode()).decode()
    text = (
        f"raw {secret} form {quote_plus(secret)} json {json.dumps(secret)} "
        f"basic {basic} unrelated fake-s3cret"
    )
    assert Masker(known).mask(text) == (
        'raw ******** form ******** json "********" basic ******** unrelated fake-s3cret'
    )


def test_a_secret_in_an_ini_file_warns_even_when_an_env_var_overrides_it(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """The env var wins, but the ini file still holds the password, and gets committed."""
    pytester.makeini(f"[pytest]\nbarapi_password = {reference_server.PASSWORD}\n")
    pytester.makepyfile("def test_me(barapi_token): pass")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*barapi_password is set in an ini file (*tox.ini)*set the BARAPI_PASSWORD environment*"]
    )
    assert reference_server.PASSWORD not in result.stdout.str()


@pytest.mark.parametrize(
    ("failure", "message"),
    [("wrong password", "invalid_grant"), ("nothing listening", "connection refused")],
)
def test_a_failed_exchange_shows_no_frame_that_held_the_request_body(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
    message: str,
) -> None:
    """Even with --full-trace -l, which show every frame and its locals: the error is raised
    outside the exchange, so requests' and urllib3's frames (and the form body) are gone."""
    if failure == "wrong password":
        monkeypatch.setenv("BARAPI_PASSWORD", "fake-wrong-password")
    else:
        monkeypatch.setenv("BARAPI_URL", leak_matrix.unused_url())
        monkeypatch.setenv("BARAPI_TIMEOUT", leak_matrix.REFUSED_TIMEOUT)
    pytester.makepyfile("def test_me(barapi_token): pass")
    result = pytester.runpytest("--full-trace", "-l")
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert message in output
    frames = re.findall(r"^\S+\.py:\d+: ", output, flags=re.MULTILINE)
    assert len(frames) > 5, "no --full-trace traceback: this test needs a new way to see frames"
    assert [f for f in frames if re.search(r"(urllib3|requests|exchange)", f)] == []
    assert "grant_type" not in output  # the form body, as a local of some frame


def test_the_plugin_logs_no_secret_at_any_level(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Checked on the log records themselves, before any masking: what the plugin (and the
    HTTP libraries under it) log at DEBUG holds no credential and no token."""
    caplog.set_level(logging.DEBUG)
    pytester.makepyfile("def test_me(barapi_session): barapi_session.get('/v1/me')")
    result = pytester.runpytest("--log-level=DEBUG")
    result.assert_outcomes(passed=1)
    secrets = [
        reference_server.PASSWORD,
        reference_server.CLIENT_SECRET,
        *barapi_server.issued_secrets(),
    ]
    # The reference server shares this process; its records (oauthlib shows what it issues)
    # are barapi's side, not the run's.
    server_side = ("oauthlib", "werkzeug")
    records = [r for r in caplog.records if not r.name.startswith(server_side)]
    messages = [record.getMessage() for record in records]
    assert any("/oauth/token" in message for message in messages), "no DEBUG records seen"
    assert [m for m in messages if any(secret in m for secret in secrets)] == []
