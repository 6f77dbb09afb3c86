"""What a user sees when the exchange cannot work: one clear line, the cause and the fix.

Each test runs a small user suite of three tests that need the token; all three error with the
same short message, the run exits 1 (4 for a usage error), and the server counts what was sent.
"""

from __future__ import annotations

import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.reference_server import PASSWORD, ReferenceServer

THREE_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_api(barapi_session, n):
    pass
"""


def run_three_tests(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(THREE_TESTS)
    result = pytester.runpytest(*args)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    return result


def the_error(result: pytest.RunResult) -> str:
    """The one message every test errored with, checked to be short and the same for all."""
    result.assert_outcomes(errors=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines = [line for line in result.outlines if line.startswith("barapi: ")]
    assert len(lines) == 4  # the report header, then one line per errored test
    _header, *messages = lines
    assert len(set(messages)) == 1, messages
    # No traceback: the error section holds the message and nothing of our code.
    assert "pytest_barapi" not in result.stdout.str()
    return messages[0]


def test_missing_credentials_are_named_and_nothing_is_sent(
    pytester: pytest.Pytester, token_endpoint: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("BARAPI_USER", "BARAPI_PASSWORD", "BARAPI_CLIENT_ID", "BARAPI_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    message = the_error(run_three_tests(pytester))
    assert message == (
        "barapi: missing credentials, no request sent: set --barapi-user / BARAPI_USER, "
        "--barapi-password / BARAPI_PASSWORD, --barapi-client-id / BARAPI_CLIENT_ID, "
        "--barapi-client-secret / BARAPI_CLIENT_SECRET"
    )
    assert token_endpoint.log == []


def test_only_what_is_missing_is_named(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BARAPI_PASSWORD")
    message = the_error(run_three_tests(pytester))
    assert message.endswith("set --barapi-password / BARAPI_PASSWORD")
    assert barapi_server.token_request_count == 0


def test_a_wrong_password_costs_one_request(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_PASSWORD", "fake-wrong-password")
    message = the_error(run_three_tests(pytester))
    assert "invalid_grant" in message
    assert "HTTP 400" in message
    assert "check --barapi-user / BARAPI_USER, --barapi-password / BARAPI_PASSWORD" in message
    assert barapi_server.token_request_count == 1


def test_a_wrong_client_secret_is_invalid_client(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", "fake-wrong-secret")
    message = the_error(run_three_tests(pytester))
    assert "invalid_client" in message
    assert "HTTP 401" in message
    assert "--barapi-client-secret / BARAPI_CLIENT_SECRET" in message
    assert barapi_server.token_request_count == 1


def test_an_unknown_scope_is_invalid_scope(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_SCOPE", "admin")
    message = the_error(run_three_tests(pytester))
    assert "invalid_scope" in message
    assert "--barapi-scope / BARAPI_SCOPE" in message


def test_an_html_error_page_shows_status_type_and_excerpt_after_retries(
    pytester: pytest.Pytester, token_endpoint: HTTPServer
) -> None:
    token_endpoint.expect_request("/oauth/token").respond_with_data(
        "<html><body>502 Bad Gateway</body></html>", status=502, content_type="text/html"
    )
    message = the_error(run_three_tests(pytester))
    assert "HTTP 502 (text/html)" in message
    assert "not JSON: '<html><body>502 Bad Gateway</body></html>'" in message
    assert len(token_endpoint.log) == 4  # the first try and three retries, then it gives up


def test_an_error_page_that_echoes_the_password_does_not_show_it(
    pytester: pytest.Pytester, token_endpoint: HTTPServer
) -> None:
    token_endpoint.expect_request("/oauth/token").respond_with_data(
        f"bad request: password={PASSWORD}", status=400, content_type="text/plain"
    )
    message = the_error(run_three_tests(pytester))
    assert "password=********" in message
    assert PASSWORD not in pytester_output(pytester)


def pytester_output(pytester: pytest.Pytester) -> str:
    result = pytester.runpytest("-rA", "-l", "--tb=long")
    return result.stdout.str() + result.stderr.str()


def test_a_200_that_is_not_json(pytester: pytest.Pytester, token_endpoint: HTTPServer) -> None:
    token_endpoint.expect_request("/oauth/token").respond_with_data("welcome!")
    message = the_error(run_three_tests(pytester))
    assert "HTTP 200" in message
    assert "not JSON: 'welcome!'" in message
    assert len(token_endpoint.log) == 1


@pytest.mark.parametrize("field", ["access_token", "token_type"])
def test_a_200_without_a_required_field(
    pytester: pytest.Pytester, token_endpoint: HTTPServer, field: str
) -> None:
    answer = {"access_token": "fake-access", "token_type": "Bearer", "expires_in": 60}
    del answer[field]
    token_endpoint.expect_request("/oauth/token").respond_with_json(answer)
    message = the_error(run_three_tests(pytester))
    assert f"answered HTTP 200 without '{field}' in its JSON" in message


def test_a_server_that_does_not_answer_in_time(
    pytester: pytest.Pytester, token_endpoint: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("{}", content_type="application/json")

    token_endpoint.expect_request("/oauth/token").respond_with_handler(slow)
    monkeypatch.setenv("BARAPI_TIMEOUT", "0.3")
    message = the_error(run_three_tests(pytester))
    assert "timed out after 0.3s" in message
    assert "--barapi-timeout / BARAPI_TIMEOUT" in message
    assert len(token_endpoint.log) <= 1  # a POST that may have arrived is not sent again


def test_connection_refused(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = HTTPServer(host="127.0.0.1", port=0)
    closed.start()
    url = closed.url_for("").rstrip("/")
    closed.stop()
    monkeypatch.setenv("BARAPI_URL", url)
    message = the_error(run_three_tests(pytester))
    assert f"connection refused for {url}/oauth/token" in message
    assert "check --barapi-url / BARAPI_URL" in message


def test_an_unknown_host(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A resolver that knows no such host, so the test sends no DNS query off this machine.
    pytester.makeconftest(
        """
        import socket, pytest

        @pytest.fixture(autouse=True, scope="session")
        def no_such_host():
            real = socket.getaddrinfo
            def resolve(host, *args, **kwargs):
                if host == "barapi.invalid":
                    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
                return real(host, *args, **kwargs)
            socket.getaddrinfo = resolve
            yield
            socket.getaddrinfo = real
        """
    )
    monkeypatch.setenv("BARAPI_URL", "https://barapi.invalid")
    message = the_error(run_three_tests(pytester))
    assert "unknown host for https://barapi.invalid/oauth/token" in message


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("barapi.cloud", "must be an http(s) URL with a host"),
        ("https://", "must be an http(s) URL with a host"),
        ("ftp://barapi.cloud", "must be an http(s) URL with a host"),
        ("http://barapi.cloud", "a password only travels over https"),
        ("http://10.0.0.8:8080", "a password only travels over https"),
    ],
)
def test_a_url_that_cannot_work_is_a_usage_error(
    pytester: pytest.Pytester,
    token_endpoint: HTTPServer,
    url: str,
    complaint: str,
) -> None:
    pytester.makepyfile(THREE_TESTS)
    result = pytester.runpytest(f"--barapi-url={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: barapi: --barapi-url / BARAPI_URL (from cli) *{complaint}*"]
    )
    assert token_endpoint.log == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "http://127.8.9.10", "http://[::1]:1", "http://localhost:1"]
)
def test_plain_http_is_fine_on_loopback(pytester: pytest.Pytester, url: str) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(f"--barapi-url={url}")
    assert result.ret == pytest.ExitCode.OK


def test_a_timeout_that_is_not_a_positive_number(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nbarapi_timeout = soon\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--barapi-timeout / BARAPI_TIMEOUT (from ini) must be a positive*"]
    )


@pytest.mark.parametrize(
    ("status", "answer", "complaint"),
    [
        (200, ["a", "list"], "JSON but not an object"),
        (
            200,
            {"access_token": "x", "token_type": "mac"},
            "issued a 'mac' token; barapi uses Bearer",
        ),
        (
            200,
            {"access_token": "x", "token_type": "Bearer", "expires_in": "soon"},
            "answered a non-integer expires_in",
        ),
        (404, {"detail": "no such route"}, "answered HTTP 404 without an OAuth error code"),
    ],
)
def test_odd_answers_are_named(
    pytester: pytest.Pytester,
    token_endpoint: HTTPServer,
    status: int,
    answer: object,
    complaint: str,
) -> None:
    token_endpoint.expect_request("/oauth/token").respond_with_json(answer, status=status)
    assert complaint in the_error(run_three_tests(pytester))
