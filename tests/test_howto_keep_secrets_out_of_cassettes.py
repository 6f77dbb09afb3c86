"""How cassettes stay free of secrets: scrubbed when recorded, scanned before kept (fail closed).

The credentials here have characters that URL-encoding changes, so "raw" and "URL-encoded"
are different strings to look for.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from tests import reference_server
from tests.conftest import CASSETTE, go_offline
from tests.reference_server import ReferenceServer
from tests.secret_forms import forms

PASSWORD = "p@ss w0rd&=/+%~"
CLIENT_SECRET = "s3cr3t/+&= ~client"


def files_under(path: Path) -> dict[Path, str]:
    return {
        file: file.read_bytes().decode("utf-8", "replace")
        for file in path.rglob("*")
        if file.is_file()
    }


def interactions(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["interactions"]


@pytest.fixture
def special_credentials(barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference user and client, with a password and secret URL-encoding changes."""
    barapi_server.users[reference_server.USER] = PASSWORD
    barapi_server.clients[reference_server.CLIENT_ID] = CLIENT_SECRET
    monkeypatch.setenv("BARAPI_PASSWORD", PASSWORD)
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", CLIENT_SECRET)


@pytest.mark.usefixtures("special_credentials")
def test_no_file_of_a_recording_run_holds_a_secret(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    user_suite.runpytest(
        "--record-mode=once", "--junitxml=report.xml", "--log-file=run.log", "--log-level=DEBUG"
    ).assert_outcomes(passed=2)

    secrets = {*forms(PASSWORD), *forms(CLIENT_SECRET)}
    secrets.update(token for issued in barapi_server.issued_secrets() for token in forms(issued))
    assert len(barapi_server.issued_secrets()) == 2  # one access and one refresh token
    files = files_under(user_suite.path)
    assert {f.name for f in files} >= {"barapi_token.yaml", "test_me.yaml", "report.xml", "run.log"}
    for file, text in files.items():
        for secret in secrets:
            assert secret not in text, f"{file} holds a secret"
        assert "authorization" not in text.lower() or file.suffix != ".yaml"

    token_cassette = files[user_suite.path / CASSETTE]
    for identifier in (reference_server.USER, reference_server.CLIENT_ID):
        for form in forms(identifier):
            assert form not in token_cassette
    for placeholder in (
        "placeholder-user",
        "placeholder-password",
        "placeholder-client-id",
        "placeholder-client-secret",
        "placeholder-access-token",
        "placeholder-refresh-token",
    ):
        assert placeholder in token_cassette


def test_a_users_vcr_config_with_its_own_filters_still_drops_authorization(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_suite.makeconftest(
        """
        import pytest

        def tag(request):
            request.headers["X-Recorded-By"] = "the user's own hook"
            return request

        @pytest.fixture(scope="module")
        def vcr_config():
            return {
                "filter_headers": [("User-Agent", "scrubbed-by-the-user")],
                "before_record_request": tag,
            }
        """
    )

    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)

    api_cassette = user_suite.path / "cassettes/test_api/test_me.yaml"
    (request,) = [interaction["request"] for interaction in interactions(api_cassette)]
    headers = {name.lower(): values for name, values in request["headers"].items()}
    assert "authorization" not in headers
    # Theirs still apply: ours are merged in, not put in their place.
    assert headers["user-agent"] == ["scrubbed-by-the-user"]
    assert headers["x-recorded-by"] == ["the user's own hook"]
    (access_token, _refresh) = barapi_server.issued_secrets()
    assert access_token not in api_cassette.read_text()

    # And the filtered cassette still replays.
    go_offline(monkeypatch, httpserver)
    user_suite.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=2)
    assert httpserver.log == []


CANNED_ACCESS_TOKEN = "canned-access-token-Zq81"


def test_a_secret_the_scrub_misses_deletes_the_cassette_and_fails(
    pytester: pytest.Pytester, token_endpoint: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Here the token the answer carries, echoed in a header. What else the scan finds, and
    how it names it, is in test_cassette_scan.py."""
    monkeypatch.setenv("BARAPI_PASSWORD", PASSWORD)
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", CLIENT_SECRET)
    token = {"access_token": CANNED_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 60}
    token_endpoint.expect_request("/oauth/token", method="POST").respond_with_json(
        token, headers={"X-Token": CANNED_ACCESS_TOKEN}
    )
    pytester.makeini(f"[pytest]\nbarapi_cassette = {CASSETTE}\n")
    pytester.makepyfile(
        """
        import http.client

        import urllib3

        def test_token(barapi_token):
            pass

        def test_later_requests_are_not_recorded():
            # vcrpy's patches are gone once the exchange is over, however it ended.
            assert not http.client.HTTPConnection.__module__.startswith("vcr")
            assert not urllib3.HTTPConnectionPool.ConnectionCls.__module__.startswith("vcr")
        """
    )

    result = pytester.runpytest("--record-mode=once", "-p", "no:cacheprovider")

    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            f"barapi: refusing to keep the cassette {CASSETTE}: after scrubbing it still held "
            "the access token at interactions/response/headers/X-Token; it was deleted. Check "
            "what the token endpoint sends back, or report this as a pytest-barapi bug."
        ]
    )
    assert list((pytester.path / "cassettes").iterdir()) == []  # nor a temporary file
    output = result.stdout.str() + result.stderr.str()
    for secret in (*forms(PASSWORD), *forms(CLIENT_SECRET), CANNED_ACCESS_TOKEN):
        assert secret not in output


def test_only_the_successful_answer_is_recorded_and_without_cookies(
    pytester: pytest.Pytester, token_endpoint: HTTPServer
) -> None:
    # A 503 first (the exchange retries it), then the token with a cookie.
    token_endpoint.expect_ordered_request("/oauth/token", method="POST").respond_with_data(
        "busy", status=503
    )
    token_endpoint.expect_ordered_request("/oauth/token", method="POST").respond_with_json(
        {"access_token": CANNED_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 60},
        headers={"Set-Cookie": "session=s3cr3t-cookie; HttpOnly"},
    )
    pytester.makeini(f"[pytest]\nbarapi_cassette = {CASSETTE}\n")
    pytester.makepyfile("def test_token(barapi_token): pass")

    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)

    assert len(token_endpoint.log) == 2
    (interaction,) = interactions(pytester.path / CASSETTE)
    response = interaction["response"]
    assert response["status"]["code"] == 200
    headers = {name.lower(): values for name, values in response["headers"].items()}
    assert "set-cookie" not in headers
    assert headers["content-length"] == [str(len(response["body"]["string"].encode()))]
    request = interaction["request"]
    assert request["headers"]["Content-Length"] == [str(len(request["body"].encode()))]


def test_a_password_that_is_a_protocol_word_still_records(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "password" is also a form field name and the grant type: that is not a leak.
    barapi_server.users[reference_server.USER] = "password"
    monkeypatch.setenv("BARAPI_PASSWORD", "password")

    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)

    assert (user_suite.path / CASSETTE).is_file()
