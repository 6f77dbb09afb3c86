"""The parts of the leak matrix: user suites that leak on purpose, and a grep for secrets.

A *suite* is a user project plus the barapi it talks to; it returns a :class:`Leakable`: the
secrets that must never show, and what the run must have shown instead (proof that it ran
the way the row means, so a row cannot pass by testing nothing). :func:`leaks` greps the
run's stdout and stderr and every file it left for every form of every secret.

To add a suite (a cassette replay, a second identity, ...), write a function like the ones
below and add it to :data:`SUITES`; rows in the matrix then name it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pytest_barapi import clock
from tests import reference_server
from tests.reference_server import ReferenceServer
from tests.secret_forms import basic, forms

# Credentials with every character that some encoding changes: space, quotes, backslash,
# &, +, /, %, =, #, ?, colon and non-ASCII. Obviously fake.
PASSWORD = "fake pw/\"quoted\" 'single' \\back+plus&amp=%25é"
CLIENT_SECRET = "fake:secret/+ü?#&=\\"
OTHER_PASSWORD = "fake other/pw 'q' +&=%é"
WRONG_PASSWORD = 'fake-wrong pw/"x"+\\&é'


@dataclass
class Leakable:
    """What a suite's run holds: the secrets it must not show, and checks that it ran."""

    credentials: list[str]
    pairs: list[tuple[str, str]]
    issued: Callable[[], list[str]] = list
    must_show: list[str] = field(default_factory=list)
    # Parts of a secret that must not show either (the distinct tails of two tokens that
    # share a head), and how deep the escaping to grep for goes.
    pieces: list[str] = field(default_factory=list)
    depth: int = 2

    def secrets(self) -> list[str]:
        return [*self.credentials, *self.issued()]

    def forms(self) -> dict[str, str]:
        """Each form to grep for, with the name of what it encodes (for the failure message)."""
        found = {}
        for secret in self.secrets():
            for form in forms(secret, self.depth):
                found[form] = f"a form of {secret!r}"
        for piece in self.pieces:
            for form in forms(piece, self.depth):
                found[form] = f"a form of the piece {piece!r}"
        for name, secret in self.pairs:
            found[basic(name, secret)] = f"base64 of {name}:{secret}"
            with contextlib.suppress(UnicodeEncodeError):
                found[basic(name, secret, "latin-1")] = f"latin-1 base64 of {name}:{secret}"
        return found


# What a reader's eye skips: colour codes (raw, and as junit xml writes their ESC) and NULs
# (text written in UTF-16). The grep reads each output as shown and without them.
UNSEEN = re.compile(rb"(?:\x1b|#x1B)\[[0-9;]*[A-Za-z]|\x00")


def _bytes(text: str) -> bytes:
    """``text`` as a file holds it, whatever its code points (a lone surrogate too)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def leaks(result: pytest.RunResult, root: Path, leakable: Leakable) -> list[str]:
    """Where a secret shows: ``"<where>: <what> as <form>, in: <context>"``, one per hit."""
    outputs = {
        "stdout": "\n".join(result.outlines).encode(),
        "stderr": "\n".join(result.errlines).encode(),
    }
    for path in sorted(root.rglob("*")):
        if path.is_file():
            outputs[str(path.relative_to(root))] = path.read_bytes()
    for where, content in list(outputs.items()):
        unseen = UNSEEN.sub(b"", content)
        if unseen != content:
            outputs[f"{where} (without colour codes and NULs)"] = unseen
    hits = []
    for where, content in outputs.items():
        for form, what in leakable.forms().items():
            at = content.find(_bytes(form))
            if at != -1:
                context = content[max(0, at - 60) : at + len(form) + 20].decode(errors="replace")
                hits.append(f"{where}: {what} as {form!r}, in: {context!r}")
    return hits


def _credentials(monkeypatch: pytest.MonkeyPatch, url: str, password: str = PASSWORD) -> Leakable:
    # The reference server runs in this process, so its oauthlib logs (which show the tokens
    # it issues, as a server may) would land in the run's log; a real barapi logs elsewhere.
    for name, logger in logging.root.manager.loggerDict.items():
        if name.startswith("oauthlib") and isinstance(logger, logging.Logger):
            monkeypatch.setattr(logger, "disabled", True)
    monkeypatch.setenv("BARAPI_URL", url)
    monkeypatch.setenv("BARAPI_USER", reference_server.USER)
    monkeypatch.setenv("BARAPI_PASSWORD", password)
    monkeypatch.setenv("BARAPI_CLIENT_ID", reference_server.CLIENT_ID)
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", CLIENT_SECRET)
    return Leakable(
        credentials=[password, CLIENT_SECRET],
        pairs=[
            (reference_server.CLIENT_ID, CLIENT_SECRET),
            (reference_server.USER, password),
        ],
    )


# Tests that put the token and credentials everywhere pytest copies text from: assertion
# messages, locals, captured stdout/stderr/logs, skip and xfail reasons, chained exceptions,
# teardown errors, warnings and junit properties.
LEAKY_TESTS = r"""
import base64
import json
import contextlib
import logging
import re
import socket
import logging
import os
import sys
import urllib.parse
import warnings

import pytest

log = logging.getLogger("user.suite")


@pytest.fixture
def credentials():
    return {
        "password": os.environ["BARAPI_PASSWORD"],
        "client_secret": os.environ["BARAPI_CLIENT_SECRET"],
    }


def test_compares_the_token(barapi_token):
    assert barapi_token.access_token == "x"


def test_compares_the_refresh_token(barapi_token):
    assert barapi_token.refresh_token is None


def test_prints_then_fails(barapi_token, credentials):
    client = os.environ["BARAPI_CLIENT_ID"] + ":" + credentials["client_secret"]
    print("token", barapi_token.access_token, barapi_token.refresh_token)
    print("form body", urllib.parse.urlencode(credentials))
    print("json body", json.dumps(credentials))
    print("basic", base64.b64encode(client.encode()).decode())
    sys.stderr.write(f"stderr {barapi_token.access_token} {credentials}\n")
    assert False


def test_prints_and_passes(barapi_token, credentials):
    print("token", barapi_token.access_token, "password", credentials["password"])


def test_logs_then_fails(barapi_token, credentials):
    log.warning("token %s", barapi_token.access_token)
    log.debug("form body %s", urllib.parse.urlencode(credentials))
    log.info("json body %s", json.dumps(credentials))
    assert False


def test_holds_secrets_in_locals(barapi_token, barapi_session, credentials):
    token = barapi_token.access_token
    password = credentials["password"]
    sent = barapi_session.get("/v1/me").request.headers
    assert sent["Authorization"] == password, token


def test_chains_exceptions(barapi_token):
    try:
        raise KeyError(barapi_token.access_token)
    except KeyError as error:
        raise RuntimeError(json.dumps({"refresh": barapi_token.refresh_token})) from error


def test_skips(barapi_token):
    pytest.skip(f"not with {barapi_token.access_token}")


def test_xfails(barapi_token):
    pytest.xfail(f"known bug with {barapi_token.access_token}")


def test_warns(barapi_token):
    warnings.warn(f"token {barapi_token.access_token}")


def test_records_a_property(record_property, barapi_token, credentials):
    record_property("token", barapi_token.access_token)
    record_property("credentials", credentials)


@pytest.fixture
def fails_in_teardown(barapi_token):
    yield
    raise RuntimeError(f"cleanup failed for {barapi_token.access_token}")


def test_fails_in_teardown(fails_in_teardown):
    pass
"""

NEEDS_A_TOKEN = """
def test_needs_the_token(barapi_token):
    pass


def test_needs_the_session(barapi_session):
    barapi_session.get("/v1/me")
"""


def leaky_tests(
    pytester: pytest.Pytester, httpserver: HTTPServer, mp: pytest.MonkeyPatch
) -> Leakable:
    """Tests that fail or print with a valid token in hand."""
    return _leaky_tests_against(_leaky_server(httpserver), pytester, mp)


def _leaky_server(httpserver: HTTPServer) -> ReferenceServer:
    return ReferenceServer(
        httpserver,
        users={reference_server.USER: PASSWORD},
        clients={reference_server.CLIENT_ID: CLIENT_SECRET},
    )


def _leaky_tests_against(
    server: ReferenceServer, pytester: pytest.Pytester, mp: pytest.MonkeyPatch
) -> Leakable:
    leakable = _credentials(mp, server.url)
    leakable.issued = server.issued_secrets
    leakable.must_show = ["failed", "********"]
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    return leakable


def recording(
    pytester: pytest.Pytester, httpserver: HTTPServer, mp: pytest.MonkeyPatch
) -> Leakable:
    """leaky_tests while recording: the token cassette, and every test's calls with vcrpy."""
    leakable = leaky_tests(pytester, httpserver, mp)
    pytester.makeini(
        """
        [pytest]
        barapi_cassette = cassettes/barapi_token.yaml
        addopts = --record-mode=once
        """
    )
    pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                item.add_marker(pytest.mark.vcr)
        """
    )
    leakable.must_show.append("record mode once")
    return leakable


def collect_error(
    pytester: pytest.Pytester, httpserver: HTTPServer, mp: pytest.MonkeyPatch
) -> Leakable:
    """A test module that fails to import, with the password in the error and its locals."""
    leakable = _credentials(mp, "https://barapi.test")
    leakable.must_show = ["error", "********"]
    pytester.makepyfile(
        test_broken="""
        import os

        def connect(password):
            raise ConnectionError(f"cannot log in with {password!r}")

        connect(os.environ["BARAPI_PASSWORD"])
        """
    )
    return leakable


def wrong_password(
    pytester: pytest.Pytester, httpserver: HTTPServer, mp: pytest.MonkeyPatch
) -> Leakable:
    """The server refuses the grant: 400 invalid_grant."""
    server = ReferenceServer(httpserver, clients={reference_server.CLIENT_ID: CLIENT_SECRET})
    leakable = _credentials(mp, server.url, password=WRONG_PASSWORD)
    leakable.issued = server.issued_secrets
    leakable.must_show = ["invalid_grant", "HTTP 400"]
    pytester.makepyfile(test_needs=NEEDS_A_TOKEN)
    return leakable


def server_error(
    pytester: pytest.Pytester, httpserver: HTTPServer, mp: pytest.MonkeyPatch
) -> Leakable:
    """A 500 whose HTML page echoes the request body, form-encoded secrets and all."""

    budget = 30

    def echo(request: Request) -> Response:
        body = request.get_data(as_text=True)
        # The answer takes the whole time budget on the plugin's clock (an in-process run
        # shares this process's): the 500 is not retried, and is read however slow the
        # machine. (A budget short enough to stop the retries would race the answer.)
        clock.advance(budget)
        return Response(f"<html>could not handle {body}</html>", 500, content_type="text/html")

    httpserver.expect_request("/oauth/token").respond_with_handler(echo)
    leakable = _credentials(mp, httpserver.url_for("").rstrip("/"))
    mp.setenv("BARAPI_TIMEOUT", str(budget))
    leakable.must_show = ["HTTP 500", "text/html", "********"]
    pytester.makepyfile(test_needs=NEEDS_A_TOKEN)
    return leakable


def refused(pytester: pytest.Pytester, httpserver: HTTPServer, mp: pytest.MonkeyPatch) -> Leakable:
    """Nothing listens at the URL."""
    leakable = _credentials(mp, unused_url())
    mp.setenv("BARAPI_TIMEOUT", REFUSED_TIMEOUT)
    leakable.must_show = ["connection refused"]
    pytester.makepyfile(test_needs=NEEDS_A_TOKEN)
    return leakable


# Bounds the retries of a refused connection: the first two tries go at once, the third after
# a 0.4 s pause, and a fourth, after 0.8 s more, would start past the budget, so is not made.
# The third refusal ends the exchange some 0.8 s before the deadline (which would make it
# "timed out"); with 0.5 s, a loaded machine's third try sometimes met the deadline. A longer
# budget makes the fourth try, and waits 0.8 s more.
REFUSED_TIMEOUT = "1.2"


def unused_url() -> str:
    """A loopback URL whose port nothing listens on (connections are refused)."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def identities(
    pytester: pytest.Pytester, httpserver: HTTPServer, mp: pytest.MonkeyPatch
) -> Leakable:
    """A second identity from barapi_session_factory leaks like the first, and a third,
    whose password is wrong, fails like the configured one would."""
    server = ReferenceServer(
        httpserver,
        users={reference_server.USER: PASSWORD, reference_server.OTHER_USER: OTHER_PASSWORD},
        clients={reference_server.CLIENT_ID: CLIENT_SECRET},
    )
    leakable = _credentials(mp, server.url)
    mp.setenv("OTHER_PASSWORD", OTHER_PASSWORD)
    leakable.credentials += [OTHER_PASSWORD, OTHER_PASSWORD + "-wrong"]
    leakable.pairs.append((reference_server.OTHER_USER, OTHER_PASSWORD))
    leakable.issued = server.issued_secrets
    leakable.must_show = ["failed", "********", "invalid_grant"]
    pytester.makepyfile(
        test_identities=f"""
        import logging, os

        USER = {reference_server.OTHER_USER!r}

        def test_other_user_compares_its_token(barapi_session_factory):
            password = os.environ["OTHER_PASSWORD"]
            other = barapi_session_factory(user=USER, password=password)
            token = other.auth.current_token()
            print(token.access_token, token.refresh_token, password)
            logging.getLogger("suite").warning("as %s: %s", USER, token.access_token)
            assert token.access_token == password

        def test_other_user_with_a_wrong_password(barapi_session_factory):
            barapi_session_factory(user=USER, password=os.environ["OTHER_PASSWORD"] + "-wrong")
        """
    )
    return leakable


def renewal(pytester: pytest.Pytester, httpserver: HTTPServer, mp: pytest.MonkeyPatch) -> Leakable:
    """leaky_tests after barapi revoked the first token: the renewed tokens leak no more."""
    server = _leaky_server(httpserver)
    server.before_api_request[1] = server.revoke_access_tokens  # the first API call gets a 401
    leakable = _leaky_tests_against(server, pytester, mp)
    pytester.makepyfile(
        test_renewal="""
        def test_the_renewed_token_is_another(barapi_session, barapi_token):
            assert barapi_session.get("/v1/me").status_code == 200  # after one renewal
            renewed = barapi_session.auth.current_token()
            print("renewed:", renewed.access_token, renewed.refresh_token)
            assert renewed.access_token == barapi_token.access_token
        """
    )
    leakable.must_show.append("renewed: ******** ********")
    return leakable


def late_secrets(
    pytester: pytest.Pytester, httpserver: HTTPServer, mp: pytest.MonkeyPatch
) -> Leakable:
    """No secret is configured: the password and client secret first appear in a test, given
    to barapi_session_factory. The plugin starts masking only then (a run with no secret has
    nothing to mask), and still masks that test's own output, logs and failure."""
    server = ReferenceServer(
        httpserver,
        users={reference_server.OTHER_USER: OTHER_PASSWORD},
        clients={reference_server.CLIENT_ID: CLIENT_SECRET},
    )
    leakable = _credentials(mp, server.url)
    for name in ("BARAPI_USER", "BARAPI_PASSWORD", "BARAPI_CLIENT_SECRET"):
        mp.delenv(name)
    mp.setenv("OTHER_PASSWORD", OTHER_PASSWORD)
    mp.setenv("OTHER_CLIENT_SECRET", CLIENT_SECRET)
    leakable.credentials = [OTHER_PASSWORD, CLIENT_SECRET]
    leakable.pairs = [
        (reference_server.OTHER_USER, OTHER_PASSWORD),
        (reference_server.CLIENT_ID, CLIENT_SECRET),
    ]
    leakable.issued = server.issued_secrets
    leakable.must_show = ["failed", "********", "password: not set"]
    pytester.makepyfile(
        test_late=f"""
        import logging, os

        def test_credentials_given_in_the_test(barapi_session_factory):
            password = os.environ["OTHER_PASSWORD"]
            secret = os.environ["OTHER_CLIENT_SECRET"]
            other = barapi_session_factory(
                user={reference_server.OTHER_USER!r}, password=password, client_secret=secret
            )
            token = other.auth.current_token()
            print(token.access_token, token.refresh_token, password, secret)
            logging.getLogger("suite").warning("%s %s %s", token.access_token, password, secret)
            assert token.access_token == password
        """
    )
    return leakable


Suite = Callable[[pytest.Pytester, HTTPServer, pytest.MonkeyPatch], Leakable]
SUITES: dict[str, Suite] = {
    suite.__name__: suite
    for suite in (
        leaky_tests,
        recording,
        identities,
        renewal,
        collect_error,
        wrong_password,
        server_error,
        refused,
        late_secrets,
    )
}
