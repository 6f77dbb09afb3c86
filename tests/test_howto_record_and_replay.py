"""How to record the token exchange once and replay it in CI: no credentials, no network.

Each test runs a user's suite with pytester against the reference server, and counts the token
requests at the server. "Offline" means no BARAPI_* variable at all and a server whose handlers
are gone: only the cassettes can make the suite pass, and the server's log proves nothing came.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import yaml
from pytest_httpserver import HTTPServer
from vcr.serialize import deserialize
from vcr.serializers import yamlserializer
from werkzeug.serving import WSGIRequestHandler

from pytest_barapi.broker import TokenBroker
from pytest_barapi.identity import Identity
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.outcome import Failure
from pytest_barapi.secrets import Secret
from pytest_barapi.settings import Settings
from tests.authlib_server import AuthlibServer
from tests.conftest import CASSETTE, go_offline, unset_barapi_env
from tests.reference_server import CLIENT_ID, ReferenceServer

MONDAY = "Mon, 07 Dec 2026 09:00:00 GMT"
TUESDAY = "Tue, 08 Dec 2026 09:00:00 GMT"

EIGHT_TOKEN_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(8))
def test_token(barapi_token, n):
    assert barapi_token.token_type == "Bearer"
"""


def recorded_expires_in(path: Path) -> int:
    """The expires_in of the token answer a cassette holds."""
    interactions = yaml.safe_load(path.read_text())["interactions"]
    return int(json.loads(interactions[0]["response"]["body"]["string"])["expires_in"])


def test_record_once_then_replay_offline(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On a developer machine, with credentials: one live exchange, recorded.
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    assert barapi_server.token_request_count == 1
    assert (user_suite.path / CASSETTE).is_file()

    # In CI: no credentials, no network, and no barapi.
    go_offline(monkeypatch, httpserver)
    user_suite.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=2)
    assert httpserver.log == []


def test_replay_is_the_default_mode(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    go_offline(monkeypatch, httpserver)
    user_suite.runpytest("--block-network").assert_outcomes(passed=2)
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("flags", "recorded_before", "token_requests", "expires_in_after"),
    [
        # Replay only: the recorded answer (3600), nothing sent.
        (["--record-mode=none"], True, 0, 3600),
        # Record if missing; if recorded, with credentials (as here), a live token for the new
        # API cassettes, and the token cassette left as it is.
        (["--record-mode=once"], True, 1, 3600),
        (["--record-mode=once"], False, 1, 7200),
        (["--record-mode=new_episodes"], True, 1, 3600),
        (["--record-mode=new_episodes"], False, 1, 7200),
        # Always live, and the cassette is recorded afresh.
        (["--record-mode=all"], True, 1, 7200),
        (["--record-mode=rewrite"], True, 1, 7200),
        (["--record-mode=rewrite"], False, 1, 7200),
        # Live, and the cassette neither read nor written.
        (["--disable-recording"], True, 1, 3600),
        (["--disable-recording"], False, 1, None),
    ],
)
def test_each_record_mode(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    flags: list[str],
    recorded_before: bool,
    token_requests: int,
    expires_in_after: int | None,
) -> None:
    cassette = user_suite.path / CASSETTE
    if recorded_before:
        user_suite.runpytest("--record-mode=once", "-k", "test_token").assert_outcomes(passed=1)
        assert recorded_expires_in(cassette) == 3600
        barapi_server.token_requests.clear()
    # The server now answers differently, so a fresh recording shows in the cassette.
    barapi_server.expires_in = 7200

    user_suite.runpytest(*flags, "-k", "test_token").assert_outcomes(passed=1)

    assert barapi_server.token_request_count == token_requests
    if expires_in_after is None:
        assert not cassette.parent.exists()
    else:
        assert recorded_expires_in(cassette) == expires_in_after
        assert [p.name for p in cassette.parent.iterdir()] == [cassette.name]  # no temp file


def test_disable_recording_does_not_even_read_the_cassette(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    cassette = user_suite.path / CASSETTE
    cassette.parent.mkdir()
    cassette.write_text("not: [a cassette")
    user_suite.runpytest("--disable-recording").assert_outcomes(passed=2)
    assert barapi_server.token_request_count == 1
    assert cassette.read_text() == "not: [a cassette"


def test_the_replayed_token_is_a_placeholder_whose_lifetime_starts_now(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makeini(
        f"""
        [pytest]
        barapi_url = {barapi_server.url}
        barapi_cassette = {CASSETTE}
        """
    )
    pytester.makeconftest(
        """
        import time

        STARTED = time.time()
        """
    )
    pytester.makepyfile(
        """
        from conftest import STARTED

        def test_token(barapi_token):
            assert barapi_token.access_token == "placeholder-access-token"
            assert barapi_token.refresh_token == "placeholder-refresh-token"
            assert barapi_token.expires_in == 3600
            # Counted from this run, not from when it was recorded: no renewal in replay.
            assert barapi_token.obtained_at >= STARTED
            assert not barapi_token.expires_within(3000)
        """
    )
    pytester.runpytest("--record-mode=once", "-p", "no:cacheprovider")
    go_offline(monkeypatch, httpserver)
    pytester.runpytest("--record-mode=none").assert_outcomes(passed=1)


def test_a_missing_cassette_names_the_file_and_how_to_record_it(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    result = user_suite.runpytest("--record-mode=none")

    result.assert_outcomes(passed=0, errors=2)
    assert result.ret == 1
    message = (
        f"barapi: no cassette at {CASSETTE} to replay (--record-mode=none); "
        "record it once with credentials set: pytest --record-mode=once"
    )
    assert result.stdout.lines.count(message) == 2  # once per test, and no traceback
    assert barapi_server.token_request_count == 0
    assert not (user_suite.path / "cassettes").exists()
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("interactions: [", "not a vcrpy cassette (*Error at line 2)"),
        ("- just\n- a list\n", "not a vcrpy cassette (TypeError)"),
        ("version: 1\ninteractions: []\n", "it holds no recorded exchange"),
        ("", "the file is empty"),
        (b"\xff\xfe\x00garbage", "unreadable (UnicodeDecodeError)"),
        (None, "unreadable (IsADirectoryError)"),
    ],
    ids=["broken-yaml", "not-a-cassette", "no-interactions", "empty", "binary", "a-directory"],
)
@pytest.mark.parametrize("mode", ["none", "once"])
def test_a_corrupt_cassette_names_the_file_and_says_re_record(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    content: str | bytes | None,
    reason: str,
    mode: str,
) -> None:
    cassette = user_suite.path / CASSETTE
    cassette.parent.mkdir()
    if content is None:
        cassette.mkdir()
    elif isinstance(content, bytes):
        cassette.write_bytes(content)
    else:
        cassette.write_text(content)

    result = user_suite.runpytest(f"--record-mode={mode}", "-k", "test_token")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"barapi: cannot replay the cassette {CASSETTE}: {reason}; "
            "re-record it with credentials set: pytest --record-mode=rewrite"
        ]
    )
    # Not silently overwritten, even in a mode that records missing cassettes.
    assert barapi_server.token_request_count == 0
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_a_cassette_recorded_for_another_url_says_so(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """With credentials set and --record-mode=once, the run would get a live token for new
    recordings: the recorded cassette is still checked first, not silently bypassed."""
    user_suite.runpytest("--record-mode=once", "-k", "test_token").assert_outcomes(passed=1)
    other_url = barapi_server.url.replace("localhost", "127.0.0.1")

    result = user_suite.runpytest("--record-mode=once", f"--barapi-url={other_url}")

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            f"barapi: the cassette {CASSETTE} was recorded for "
            f"POST {barapi_server.url}/oauth/token, not POST {other_url}/oauth/token "
            "(--barapi-url / BARAPI_URL, from cli); re-record it for this URL "
            "(pytest --record-mode=rewrite), or set the URL it was recorded for"
        ]
    )
    assert barapi_server.token_request_count == 1


def test_a_replay_for_another_user_client_id_and_scope_names_each(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token cassette holds who it was recorded for (a short hash of each of the user,
    client id and scope, not the names): alice's token is never replayed as bob's."""
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    unset_barapi_env(monkeypatch)
    bob = ["--barapi-user=bob@example.test", "--barapi-client-id=other", "--barapi-scope=admin"]

    result = user_suite.runpytest("--record-mode=none", *bob)

    result.assert_outcomes(errors=2)
    message = (
        f"barapi: the cassette {CASSETTE} was recorded for another user, client id and scope "
        "(--barapi-user / BARAPI_USER, from cli; --barapi-client-id / BARAPI_CLIENT_ID, from "
        "cli; --barapi-scope / BARAPI_SCOPE, from cli); re-record it for this user, client id "
        "and scope (pytest --record-mode=rewrite), or set the user, client id and scope it was "
        "recorded for"
    )
    assert result.outlines.count(message) == 2
    text = (user_suite.path / CASSETTE).read_text()
    assert "alice" not in text
    assert CLIENT_ID not in text
    # Only what this run gives is compared: the same user, nothing else set, replays.
    user_suite.runpytest("--record-mode=none", "--barapi-user=alice@example.test").assert_outcomes(
        passed=2
    )
    assert barapi_server.token_request_count == 1


def test_a_replay_at_another_url_for_another_user_names_both(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_suite.runpytest("--record-mode=once", "-k", "test_token").assert_outcomes(passed=1)
    unset_barapi_env(monkeypatch)
    other_url = barapi_server.url.replace("localhost", "127.0.0.1")

    result = user_suite.runpytest(f"--barapi-url={other_url}", "--barapi-user=bob@example.test")

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            f"barapi: the cassette {CASSETTE} was recorded for "
            f"POST {barapi_server.url}/oauth/token, not POST {other_url}/oauth/token, and for "
            "another user (--barapi-url / BARAPI_URL, from cli; --barapi-user / BARAPI_USER, "
            "from cli); re-record it for this URL and user (pytest --record-mode=rewrite), or "
            "set the URL and user it was recorded for"
        ]
    )


def suite_on_authlib(pytester: pytest.Pytester, server: AuthlibServer) -> None:
    """A suite whose token endpoint has its own path, given on the command line when recording."""
    server.token_path = "/o/token/"
    pytester.makeini(
        f"[pytest]\nbarapi_url = {server.url}\nbarapi_cassette = {CASSETTE}\n"
        "barapi_client_auth = basic\n"
    )
    pytester.makepyfile("def test_token(barapi_token): pass")


def test_a_token_path_given_when_recording_and_missing_at_replay_is_named(
    pytester: pytest.Pytester, authlib_server: AuthlibServer
) -> None:
    """Replay matches the token endpoint: the message names the setting that differs."""
    suite_on_authlib(pytester, authlib_server)
    record = pytester.runpytest("--record-mode=once", "--barapi-token-path=/o/token/")
    record.assert_outcomes(passed=1)

    result = pytester.runpytest("--record-mode=none")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"barapi: the cassette {CASSETTE} was recorded for "
            f"POST {authlib_server.url}/o/token/, not POST {authlib_server.url}/oauth/token "
            "(--barapi-token-path / BARAPI_TOKEN_PATH, from default); re-record it for this "
            "token path (pytest --record-mode=rewrite), or set the token path it was recorded "
            "for"
        ]
    )
    assert authlib_server.token_request_count == 1


def test_a_url_that_changed_where_the_token_path_could_have_is_named_with_both_values(
    pytester: pytest.Pytester, authlib_server: AuthlibServer
) -> None:
    """Recorded at {url}/o with the token path /token/, replayed at {url}: the recorded
    endpoint is as much that URL with this token path as this URL with the token path
    /o/token/. The message names both settings, with the value each would need."""
    suite_on_authlib(pytester, authlib_server)
    token_path = "--barapi-token-path=/token/"
    record = pytester.runpytest(
        "--record-mode=once", f"--barapi-url={authlib_server.url}/o", token_path
    )
    record.assert_outcomes(passed=1)

    result = pytester.runpytest(token_path)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"barapi: the cassette {CASSETTE} was recorded for "
            f"POST {authlib_server.url}/o/token/, not POST {authlib_server.url}/token/: for the "
            f"URL {authlib_server.url}/o, or the token path /o/token/ (--barapi-url / "
            "BARAPI_URL, from env; --barapi-token-path / BARAPI_TOKEN_PATH, from cli); "
            "re-record it for this URL or token path (pytest --record-mode=rewrite), or set "
            "the URL or token path it was recorded for"
        ]
    )
    assert authlib_server.token_request_count == 1


def test_a_url_and_a_token_path_that_both_differ_are_both_named(
    pytester: pytest.Pytester, authlib_server: AuthlibServer
) -> None:
    suite_on_authlib(pytester, authlib_server)
    record = pytester.runpytest("--record-mode=once", "--barapi-token-path=/o/token/")
    record.assert_outcomes(passed=1)
    other_url = authlib_server.url.replace("localhost", "127.0.0.1")

    result = pytester.runpytest(f"--barapi-url={other_url}")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"barapi: the cassette {CASSETTE} was recorded for "
            f"POST {authlib_server.url}/o/token/, not POST {other_url}/oauth/token "
            "(--barapi-url / BARAPI_URL, from cli; --barapi-token-path / BARAPI_TOKEN_PATH, "
            "from default); re-record it for this URL and token path "
            "(pytest --record-mode=rewrite), or set the URL and token path it was recorded for"
        ]
    )
    assert authlib_server.token_request_count == 1


def test_a_failed_exchange_is_never_recorded(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_PASSWORD", "not-the-password")

    result = user_suite.runpytest("--record-mode=once")

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [f"barapi: the token endpoint {barapi_server.url}/oauth/token refused the grant: invalid_*"]
    )
    assert barapi_server.token_request_count == 1
    assert not (user_suite.path / "cassettes" / "barapi_token.yaml").exists()
    assert list((user_suite.path / "cassettes").glob("**/*.tmp")) == []


def test_recording_needs_credentials_and_says_which(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BARAPI_PASSWORD")

    result = user_suite.runpytest("--record-mode=once", "-k", "test_token")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"barapi: recording the cassette {CASSETTE} (--record-mode=once) needs "
            "credentials; no request sent: set --barapi-password / BARAPI_PASSWORD"
        ]
    )
    assert barapi_server.token_request_count == 0


def test_a_cassette_that_cannot_be_written_says_so(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makeini("[pytest]\nbarapi_cassette = not-a-directory/barapi_token.yaml\n")
    pytester.path.joinpath("not-a-directory").write_text("")
    pytester.makepyfile("def test_token(barapi_token): pass")

    result = pytester.runpytest("--record-mode=rewrite")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["barapi: could not write the cassette not-a-directory/barapi_token.yaml: *"]
    )


def test_the_header_shows_the_cassette_and_mode(user_suite: pytest.Pytester) -> None:
    result = user_suite.runpytest("--record-mode=once", "--co")
    cassette = user_suite.path / CASSETTE
    result.stdout.fnmatch_lines([f"barapi: *, cassette: {cassette} (ini, record mode once)"])


def test_replay_works_without_pytest_recording(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_suite.runpytest("--record-mode=once", "-k", "test_token").assert_outcomes(passed=1)
    go_offline(monkeypatch, httpserver)

    # Without pytest-recording there is no --record-mode: the cassette is replayed.
    result = user_suite.runpytest("-p", "no:recording", "-k", "test_token")

    result.assert_outcomes(passed=1)
    assert httpserver.log == []


def test_replay_under_xdist(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_suite.makepyfile(test_more=EIGHT_TOKEN_TESTS)
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=10)
    go_offline(monkeypatch, httpserver)

    result = user_suite.runpytest(
        "-n", "2", "--record-mode=none", "--block-network", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=10)
    assert httpserver.log == []


def test_recording_under_xdist_leaves_one_whole_cassette(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_suite.makepyfile(test_more=EIGHT_TOKEN_TESTS)

    result = user_suite.runpytest("-n", "2", "--record-mode=once", "-k", "test_more")

    result.assert_outcomes(passed=8)
    # The workers share one exchange, so one of them records; the write is atomic, so the
    # cassette is whole and no temporary file is left.
    assert barapi_server.token_request_count == 1
    assert [p.name for p in (user_suite.path / "cassettes").iterdir()] == ["barapi_token.yaml"]
    go_offline(monkeypatch, httpserver)
    user_suite.runpytest("--record-mode=none", "-k", "test_more").assert_outcomes(passed=8)


def test_a_replayed_token_is_never_renewed(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even recorded with a one-second lifetime: replay has nothing to renew with, and sends
    nothing, so the placeholder token is what the recorded API calls get."""
    barapi_server.expires_in = 1
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    go_offline(monkeypatch, httpserver)
    user_suite.makepyfile(
        test_later="""
        from pytest_barapi import clock

        def test_after_the_recorded_lifetime(barapi_session, barapi_token):
            clock.advance(2 * 3600)  # past the recorded second and the placeholder's hour
            assert barapi_token.replayed
            assert barapi_session.auth.current_token() is barapi_token
        """
    )

    result = user_suite.runpytest("--record-mode=none", "--block-network")

    result.assert_outcomes(passed=3)
    assert httpserver.log == []


def test_re_recording_the_same_exchange_changes_no_byte(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cassette = user_suite.path / CASSETTE
    # The server dates each answer (the Date header): the second recording is a day later.
    monkeypatch.setattr(WSGIRequestHandler, "date_time_string", lambda *_: MONDAY)
    user_suite.runpytest("--record-mode=rewrite", "-k", "test_token").assert_outcomes(passed=1)
    first = cassette.read_bytes()
    monkeypatch.setattr(WSGIRequestHandler, "date_time_string", lambda *_: TUESDAY)

    user_suite.runpytest("--record-mode=rewrite", "-k", "test_token").assert_outcomes(passed=1)

    assert barapi_server.token_request_count == 2
    assert len(set(barapi_server.issued_secrets())) == 4  # new tokens, the same placeholders
    assert cassette.read_bytes() == first
    # The control: the server did date its answers as the test says.
    assert requests.get(f"{barapi_server.url}/v1/me", timeout=5).headers["Date"] == TUESDAY


def failed_exchange(url: str, *codes: int) -> str:
    """A token cassette whose recorded answers have these status codes."""
    answer = """
- request:
    body: grant_type=password&client_id=placeholder-client-id
    headers: {{}}
    method: POST
    uri: {url}/oauth/token
  response:
    body:
      string: '{body}'
    headers: {{}}
    status:
      code: {code}
      message: {message}"""
    body = {500: "<html>Internal Server Error</html>", 200: json.dumps({"access_token": "x"})}
    message = {500: "INTERNAL SERVER ERROR", 200: "OK"}
    answers = [answer.format(url=url, code=c, body=body[c], message=message[c]) for c in codes]
    return "interactions:" + "".join(answers) + "\nversion: 1\n"


@pytest.mark.parametrize("codes", [(500,), (500, 200)], ids=["a-500", "a-500-then-a-token"])
@pytest.mark.parametrize("mode", ["none", "once"])
def test_a_cassette_holding_a_failed_exchange_says_so_and_how_to_re_record(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, codes: tuple[int], mode: str
) -> None:
    cassette = user_suite.path / CASSETTE
    cassette.parent.mkdir()
    cassette.write_text(failed_exchange(barapi_server.url, *codes))

    result = user_suite.runpytest(f"--record-mode={mode}", "-k", "test_token")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"barapi: cannot replay the cassette {CASSETTE}: it holds a failed exchange "
            "(HTTP 500), not a token; re-record it with credentials set: "
            "pytest --record-mode=rewrite"
        ]
    )
    result.stdout.no_fnmatch_line("*already been played back*")
    assert barapi_server.token_request_count == 0


def test_replay_never_retries(tmp_path: Path) -> None:
    """A retry would only get vcrpy's "already played back", or a later answer than the one
    recorded first: replay sends the recorded grant once."""
    url = "http://127.0.0.1:9"
    path = tmp_path / "barapi_token.yaml"
    path.write_text(failed_exchange(url, 500, 200))
    settings = Settings(
        url=url,
        identity=Identity("user", Secret("pw"), "client", Secret("secret")),
        timeout=5,
        cassette=path,
        sources={},
    )
    recorded = deserialize(path.read_text(), yamlserializer)

    outcome = TokenBroker(settings, KnownSecrets()).replay(settings.identity, path, recorded)

    assert isinstance(outcome, Failure)
    assert outcome.message.startswith(f"{url}/oauth/token answered HTTP 500 (no content type)")
