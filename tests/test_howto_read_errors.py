"""What a user sees when the exchange cannot work: one clear line, the cause and the fix.

Each test runs a small user suite of three tests that need the token; all three error with the
same short message, the run exits 1 (4 for a usage error), and the server counts what was sent.
Every cause the exchange tells apart, with its message word for word, is in test_exchange.py,
and every rule for the URL and the timeout in test_settings.py: here, how they reach a user.
"""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

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
    # The report masking would hide it too: test_exchange.py shows the exchange masks it first.
    assert "password=********" in message
    assert PASSWORD not in pytester_output(pytester)


def pytester_output(pytester: pytest.Pytester) -> str:
    result = pytester.runpytest("-rA", "-l", "--tb=long")
    return result.stdout.str() + result.stderr.str()


def test_a_200_without_a_required_field(
    pytester: pytest.Pytester, token_endpoint: HTTPServer
) -> None:
    token_endpoint.expect_request("/oauth/token").respond_with_json(
        {"token_type": "Bearer", "expires_in": 60}
    )
    message = the_error(run_three_tests(pytester))
    assert message == (
        f"barapi: {token_endpoint.url_for('/oauth/token')} answered HTTP 200 without "
        "'access_token' in its JSON"
    )


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


def test_a_url_that_cannot_work_is_a_usage_error(
    pytester: pytest.Pytester, token_endpoint: HTTPServer
) -> None:
    """Every URL rule is in test_settings.py; here, how a user's run ends on one of them."""
    pytester.makepyfile(THREE_TESTS)
    result = pytester.runpytest("--barapi-url=http://barapi.cloud")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: barapi: --barapi-url / BARAPI_URL (from cli) is plain http to "
            "'barapi.cloud': a password only travels over https (http is allowed for "
            "loopback: 127.0.0.0/8, ::1, localhost)"
        ]
    )
    assert token_endpoint.log == []


def test_a_timeout_that_is_not_a_positive_number(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nbarapi_timeout = soon\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--barapi-timeout / BARAPI_TIMEOUT (from ini) must be a positive*"]
    )
