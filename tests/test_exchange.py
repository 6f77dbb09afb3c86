"""How the exchange reads every answer: the token, or the one-line message a user will see.

Fast, in this process: each test sends one real grant with ``post_grant`` to pytest-httpserver
on loopback (or to a port where nothing, or something odd, listens) and reads the outcome.
``test_howto_read_errors.py`` shows these messages reaching a user's run; here is the whole
list of causes, each message word for word.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pytest_barapi import clock
from pytest_barapi.answer import ERRORS_LOOKED_AT, EXCERPT, REASON, read_answer
from pytest_barapi.exchange import post_grant
from pytest_barapi.identity import Identity
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.masking import Masker
from pytest_barapi.outcome import Failure, Outcome
from pytest_barapi.secrets import Secret
from pytest_barapi.settings import server_called
from pytest_barapi.token import BarapiToken
from tests import leak_matrix, reference_server
from tests.conftest import settle
from tests.secret_forms import forms

# Credentials with characters that form-encoding changes, so an echoed body holds them encoded.
IDENTITY = Identity(
    user=reference_server.USER,
    password=Secret(leak_matrix.PASSWORD),
    client_id=reference_server.CLIENT_ID,
    client_secret=Secret(leak_matrix.CLIENT_SECRET),
)
SECRETS = (leak_matrix.PASSWORD, leak_matrix.CLIENT_SECRET)
CHECK_URL = "check --barapi-url / BARAPI_URL"
CHECK_USER = "check --barapi-user / BARAPI_USER, --barapi-password / BARAPI_PASSWORD"
CHECK_CLIENT = (
    "check --barapi-client-id / BARAPI_CLIENT_ID, --barapi-client-secret / BARAPI_CLIENT_SECRET, "
    "--barapi-client-auth / BARAPI_CLIENT_AUTH"
)


def the_runs_masker() -> Masker:
    """The masker a run has once it knows the configured identity (``BarapiRun.know``)."""
    known = KnownSecrets()
    for name, secret in IDENTITY.credential_pairs():
        known.add_pair(name, secret)
    return Masker(known)


def grant(url: str, timeout: float = 5) -> Outcome:
    """One password grant, as the broker sends it."""
    return post_grant(url, IDENTITY.password_grant(), timeout=timeout, masker=the_runs_masker())


def failure(url: str, timeout: float = 5) -> Failure:
    outcome = grant(url, timeout)
    assert isinstance(outcome, Failure), outcome
    return outcome


@pytest.fixture
def token_url(httpserver: HTTPServer) -> str:
    """Where the grant goes: the loopback server's token endpoint, answering what a test says."""
    return httpserver.url_for("/oauth/token")


def answer_json(httpserver: HTTPServer, body: object, status: int = 200) -> None:
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(body, status=status)


def answer_text(httpserver: HTTPServer, text: str, status: int, content_type: str) -> None:
    httpserver.expect_request("/oauth/token", method="POST").respond_with_data(
        text, status=status, content_type=content_type
    )


# A time budget no answer on loopback comes near, however loaded the machine: a test whose
# server answers reads that answer, never "timed out".
BUDGET = 30


def spending_the_budget(response: Response) -> Callable[[Request], Response]:
    """A handler whose answer takes the whole :data:`BUDGET`, on the plugin's clock: no retry
    starts after it (a 5xx would be retried), and the answer is read all the same."""

    def respond(request: Request) -> Response:
        clock.advance(BUDGET)
        return response

    return respond


# The token.


def test_a_token_answer_is_read_field_by_field(httpserver: HTTPServer, token_url: str) -> None:
    answer_json(
        httpserver,
        {
            "access_token": "fake-access",
            "token_type": "Bearer",
            "expires_in": "3600",  # a string is tolerated: some servers send one
            "refresh_token": "fake-refresh",
            "scope": "read write",
        },
    )
    clock.advance(365 * 24 * 3600)  # the token's lifetime counts on the plugin's clock
    before = clock.now()
    token = grant(token_url)
    assert isinstance(token, BarapiToken)
    assert (token.access_token, token.token_type, token.expires_in) == (
        "fake-access",
        "Bearer",
        3600,
    )
    assert (token.refresh_token, token.scope, token.replayed) == (
        "fake-refresh",
        "read write",
        False,
    )
    assert before <= token.obtained_at <= clock.now()
    [(request, _)] = httpserver.log
    assert request.form.to_dict() == IDENTITY.password_grant()


def test_optional_fields_left_out_or_of_another_type_are_none(
    httpserver: HTTPServer, token_url: str
) -> None:
    """RFC 6749 §5.1 makes expires_in, refresh_token and scope optional."""
    answer_json(
        httpserver,
        {"access_token": "fake-access", "token_type": "bearer", "refresh_token": 7, "scope": []},
    )
    token = grant(token_url)
    assert isinstance(token, BarapiToken)
    assert token.token_type == "bearer"  # the scheme is case-insensitive (RFC 6750)
    assert (token.expires_in, token.refresh_token, token.scope) == (None, None, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"token_type": "Bearer"},
            "{url} answered HTTP 200 without 'access_token' in its JSON",
        ),
        (
            {"access_token": "", "token_type": "Bearer"},
            "{url} answered HTTP 200 without 'access_token' in its JSON",
        ),
        (
            {"access_token": "x"},
            "{url} answered HTTP 200 without 'token_type' in its JSON",
        ),
        (
            {"access_token": "x", "token_type": "mac"},
            "{url} issued a 'mac' token; pytest-barapi uses Bearer tokens only (RFC 6750)",
        ),
        (
            {"access_token": "x", "token_type": "Bearer", "expires_in": "soon"},
            "{url} answered a non-integer expires_in",
        ),
    ],
    ids=["no-access-token", "empty-access-token", "no-token-type", "mac", "expires-soon"],
)
def test_a_200_that_is_not_a_bearer_token_says_what_is_wrong(
    httpserver: HTTPServer, token_url: str, body: object, message: str
) -> None:
    answer_json(httpserver, body)
    assert failure(token_url) == Failure(message.format(url=token_url))
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"error": "invalid_grant", "error_description": "Account locked."},
        {"error": {"code": "invalid_grant", "message": "Account locked."}},
    ],
    ids=["rfc", "nested"],
)
def test_a_200_that_carries_an_oauth_error_is_a_refusal_with_its_reason(
    httpserver: HTTPServer, token_url: str, body: object
) -> None:
    """Some servers answer a refusal with HTTP 200: the code, the reason and the advice show."""
    answer_json(httpserver, body)
    assert failure(token_url) == Failure(
        f"the token endpoint {token_url} refused the grant: invalid_grant (Account locked.), "
        f"HTTP 200; {CHECK_USER}",
        refused=True,
    )


def test_a_200_without_a_token_shows_the_reason_it_gives(
    httpserver: HTTPServer, token_url: str
) -> None:
    answer_json(httpserver, {"error": {"code": 423, "message": "Account locked."}})
    assert failure(token_url) == Failure(
        f"{token_url} answered HTTP 200 without 'access_token' in its JSON (Account locked.)"
    )


def test_a_200_in_json_that_is_not_an_object(httpserver: HTTPServer, token_url: str) -> None:
    answer_text(httpserver, '["a", "list"]', 200, "application/json")
    assert failure(token_url) == Failure(
        f"{token_url} answered HTTP 200 (application/json), JSON but not an object: "
        f'\'["a", "list"]\'; {CHECK_URL}'
    )


# Refusals: an OAuth error (RFC 6749 §5.2) names the settings to check.


@pytest.mark.parametrize(
    ("status", "error", "advice"),
    [
        (400, "invalid_grant", "; " + CHECK_USER),
        (401, "invalid_client", "; " + CHECK_CLIENT),
        (400, "unauthorized_client", "; check --barapi-client-id / BARAPI_CLIENT_ID"),
        (
            400,
            "invalid_scope",
            "; set --barapi-scope / BARAPI_SCOPE / barapi_scope (ini) to the scopes the "
            "server grants",
        ),
        (400, "unsupported_grant_type", ""),
    ],
)
def test_an_oauth_error_names_what_to_check_and_is_never_retried(
    httpserver: HTTPServer, token_url: str, status: int, error: str, advice: str
) -> None:
    answer_json(httpserver, {"error": error, "error_description": "Nope."}, status=status)
    assert failure(token_url) == Failure(
        f"the token endpoint {token_url} refused the grant: {error} (Nope.), HTTP {status}{advice}",
        refused=True,
    )
    # The endpoint rate-limits and may lock the account: a wrong password costs one request.
    assert len(httpserver.log) == 1


def test_an_oauth_error_without_a_description(httpserver: HTTPServer, token_url: str) -> None:
    answer_json(httpserver, {"error": "invalid_grant"}, status=400)
    assert failure(token_url).message == (
        f"the token endpoint {token_url} refused the grant: invalid_grant, HTTP 400; {CHECK_USER}"
    )


def test_a_4xx_in_json_without_an_error_code_is_quoted(
    httpserver: HTTPServer, token_url: str
) -> None:
    answer_json(httpserver, {"route": "unknown"}, status=404)
    assert failure(token_url) == Failure(
        f"{token_url} answered HTTP 404 without an OAuth error code: {{'route': 'unknown'}}",
        refused=True,
    )


# Where each server puts its reason (answer.REASON_KEYS), found and shown the same way.


@pytest.mark.parametrize(
    "body",
    [
        {"error": "invalid_request", "error_description": "Nope."},  # RFC 6749 §5.2
        {"error": "invalid_request", "description": "Nope."},  # aioauth
        {"error": "invalid_request", "message": "Nope."},
        {"error": "invalid_request", "detail": "Nope."},  # Django REST framework, RFC 9457
        {"error": "invalid_request", "error_message": "Nope."},
        {"error": "invalid_request", "reason": "Nope."},
        {"error": "invalid_request", "msg": "Nope."},
        {"error": "invalid_request", "errors": [{"message": "Nope."}]},  # GraphQL
        {"error": "invalid_request", "errors": [{"status": "400", "detail": "Nope."}]},  # JSON:API
        {"error": "invalid_request", "errors": [7, {}, {"msg": "Nope."}]},
        {"error": "invalid_request", "errors": ["Nope."]},
        {"error": "invalid_request", "message": ["Nope."]},  # NestJS's validation
        {"error": "invalid_request", "detail": [{"msg": "Nope.", "loc": ["body"]}]},  # FastAPI
        {"error": "invalid_request", "error_description": "", "message": "Nope."},
        {"error": "invalid_request", "error_description": 7, "description": "Nope."},
    ],
    ids=[
        "rfc",
        "aioauth",
        "message",
        "detail",
        "error_message",
        "reason",
        "msg",
        "errors-message",
        "errors-detail",
        "errors-first-with-one",
        "errors-strings",
        "message-list",
        "detail-list-of-objects",
        "empty-first",
        "not-a-string",
    ],
)
def test_a_refusal_shows_the_reason_wherever_the_server_puts_it(
    httpserver: HTTPServer, token_url: str, body: dict[str, object]
) -> None:
    answer_json(httpserver, body, status=400)
    assert failure(token_url).message == (
        f"the token endpoint {token_url} refused the grant: invalid_request (Nope.), HTTP 400"
    )


def test_a_reason_in_several_parts_shows_them_all_on_one_line(
    httpserver: HTTPServer, token_url: str
) -> None:
    answer_json(
        httpserver,
        {
            "statusCode": 400,
            "message": ["password should not be empty", "", 7, "username must be an email"],
            "error": "Bad Request",
        },
        status=400,
    )
    assert failure(token_url).message == (
        f"the token endpoint {token_url} refused the grant: Bad Request (password should not be "
        "empty; username must be an email), HTTP 400"
    )


def test_a_reason_drives_no_terminal(httpserver: HTTPServer, token_url: str) -> None:
    """A server's words are escaped where they are not printable: no screen cleared, no bell."""
    answer_json(
        httpserver,
        {"error": "invalid_grant\u0007", "error_description": "\u001b[2J\u001b[Hall good"},
        status=400,
    )
    message = failure(token_url).message
    assert message.startswith(
        f"the token endpoint {token_url} refused the grant: invalid_grant\\x07 "
        "(\\x1b[2J\\x1b[Hall good), HTTP 400"
    )
    assert not [char for char in message if not char.isprintable()]


def test_the_first_reason_in_the_documented_order_wins(
    httpserver: HTTPServer, token_url: str
) -> None:
    answer_json(
        httpserver,
        {"error": "invalid_grant", "message": "Second.", "error_description": "First."},
        status=400,
    )
    assert "invalid_grant (First.), HTTP 400" in failure(token_url).message


def test_a_reason_under_an_unlisted_key_is_shown_with_its_code(
    httpserver: HTTPServer, token_url: str
) -> None:
    """A server that says why under "reason" (not an OAuth key): its words are not dropped."""
    answer_json(
        httpserver, {"error": "invalid_request", "reason": "username is required"}, status=400
    )
    assert failure(token_url) == Failure(
        f"the token endpoint {token_url} refused the grant: invalid_request "
        f"(username is required), HTTP 400; {CHECK_USER}",
        refused=True,
    )


def test_a_reason_at_the_top_wins_over_one_in_an_errors_list(
    httpserver: HTTPServer, token_url: str
) -> None:
    answer_json(
        httpserver,
        {"error": "invalid_grant", "errors": [{"message": "Second."}], "msg": "First."},
        status=400,
    )
    assert "invalid_grant (First.), HTTP 400" in failure(token_url).message


def test_an_errors_list_is_looked_at_no_further_than_its_first_entries(
    httpserver: HTTPServer, token_url: str
) -> None:
    errors: list[object] = [{}] * ERRORS_LOOKED_AT + [{"message": "Too far."}]
    answer_json(httpserver, {"error": "invalid_grant", "errors": errors}, status=400)
    assert failure(token_url).message == (
        f"the token endpoint {token_url} refused the grant: invalid_grant, HTTP 400; {CHECK_USER}"
    )


def test_a_long_reason_in_an_errors_list_is_masked_and_one_bounded_line(
    httpserver: HTTPServer, token_url: str
) -> None:
    echo = "x\n" * REASON + f" {leak_matrix.PASSWORD} {leak_matrix.CLIENT_SECRET}"
    answer_json(httpserver, {"error": "invalid_grant", "errors": [{"detail": echo}]}, status=400)
    message = failure(token_url).message
    shown = message.split("invalid_grant (", 1)[1].rsplit("), HTTP 400", 1)[0]
    assert shown == ("x " * REASON)[: REASON - 3] + "..."
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in message


def test_a_reason_nested_under_error_is_shown_without_a_code(
    httpserver: HTTPServer, token_url: str
) -> None:
    answer_json(httpserver, {"error": {"code": 400, "message": "Bad scope."}}, status=400)
    assert failure(token_url) == Failure(
        f"{token_url} answered HTTP 400 without an OAuth error code (Bad scope.)", refused=True
    )


def test_a_code_nested_under_error_is_the_oauth_error_code(
    httpserver: HTTPServer, token_url: str
) -> None:
    """{"error": {"code": ..., "message": ...}}, as gateways word it: a refusal with advice."""
    answer_json(
        httpserver, {"error": {"code": "invalid_client", "message": "Unknown client."}}, status=401
    )
    assert failure(token_url) == Failure(
        f"the token endpoint {token_url} refused the grant: invalid_client (Unknown client.), "
        f"HTTP 401; {CHECK_CLIENT}",
        refused=True,
    )


def test_a_reason_deeper_than_one_level_is_not_looked_for(
    httpserver: HTTPServer, token_url: str
) -> None:
    answer_json(httpserver, {"error": {"details": {"message": "Deep."}}}, status=400)
    assert failure(token_url).message == (
        f"{token_url} answered HTTP 400 without an OAuth error code: "
        "{'error': {'details': {'message': 'Deep.'}}}"
    )


def test_a_long_reason_on_several_lines_is_one_bounded_line(
    httpserver: HTTPServer, token_url: str
) -> None:
    reason = "Line one.\n\tLine two. " + "x" * (2 * REASON)
    answer_json(httpserver, {"error": "invalid_grant", "description": reason}, status=400)
    message = failure(token_url).message
    shown = message.split("invalid_grant (", 1)[1].rsplit("), HTTP 400", 1)[0]
    assert shown.startswith("Line one. Line two. xxx")
    assert shown.endswith("...")
    assert len(shown) == REASON
    assert "\n" not in message


@pytest.mark.parametrize("key", ["error_description", "description", "message", "detail"])
def test_a_reason_that_echoes_a_secret_is_masked(
    httpserver: HTTPServer, token_url: str, key: str
) -> None:
    """A reason far longer than the bound, the secrets at its end: masked before it is cut."""
    echo = "x" * (REASON - 20) + f" {leak_matrix.PASSWORD} {leak_matrix.CLIENT_SECRET}"
    answer_json(httpserver, {"error": "invalid_grant", key: echo}, status=400)
    message = failure(token_url).message
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in message
    assert message.count("x") >= REASON - 20


# What the server is called: barapi on its own host, "the token server" anywhere else.


@pytest.mark.parametrize(
    ("url", "called"),
    [
        ("https://barapi.cloud/oauth/token", "barapi"),
        ("https://staging.barapi.cloud/oauth/token", "barapi"),
        ("https://BARAPI.cloud./oauth/token", "barapi"),
        ("https://notbarapi.cloud/oauth/token", "the token server"),
        ("https://barapi.cloud.example/oauth/token", "the token server"),
        ("http://127.0.0.1:8765/o/token/", "the token server"),
    ],
)
def test_barapi_is_called_by_its_name_on_its_own_host_only(url: str, called: str) -> None:
    assert server_called(url) == called


@pytest.mark.parametrize(
    ("url", "ending"),
    [
        ("https://barapi.cloud/oauth/token", "barapi uses Bearer"),
        ("https://auth.example/o/token/", "pytest-barapi uses Bearer tokens only (RFC 6750)"),
    ],
)
def test_a_token_of_another_type_is_worded_for_the_server(url: str, ending: str) -> None:
    """Read as it arrived from ``url`` (the answer alone: no request to a real host)."""
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = "application/json"
    content = json.dumps({"access_token": "x", "token_type": "mac"}).encode()
    outcome = read_answer(url, response, content, the_runs_masker())
    assert outcome == Failure(f"{url} issued a 'mac' token; {ending}")


def test_a_token_type_is_quoted_on_one_line_and_cut_short() -> None:
    url = "https://auth.example.test/oauth/token"
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = "application/json"
    content = json.dumps({"access_token": "x", "token_type": "mac\n" + "m" * 1000}).encode()
    outcome = read_answer(url, response, content, the_runs_masker())
    assert outcome == Failure(
        f"{url} issued a {'mac ' + 'm' * (REASON - 7) + '...'!r} token; pytest-barapi uses "
        "Bearer tokens only (RFC 6750)"
    )


def test_an_oauth_error_in_a_5xx_is_not_a_refusal(httpserver: HTTPServer, token_url: str) -> None:
    """The server did not decide on the grant: a refresh that fails so is not worth a
    password grant instead (``Failure.refused`` is false)."""
    httpserver.expect_request("/oauth/token").respond_with_handler(
        spending_the_budget(
            Response('{"error": "temporarily_unavailable"}', 503, content_type="application/json")
        )
    )
    assert failure(token_url, timeout=BUDGET) == Failure(
        f"the token endpoint {token_url} refused the grant: temporarily_unavailable, HTTP 503"
    )


# Answers that are not JSON.


def test_a_200_that_is_not_json(httpserver: HTTPServer, token_url: str) -> None:
    answer_text(httpserver, "welcome!", 200, "text/plain")
    assert failure(token_url) == Failure(
        f"{token_url} answered HTTP 200 (text/plain), not JSON: 'welcome!'; {CHECK_URL}"
    )


def test_json_nested_too_deep_to_read_is_one_line(httpserver: HTTPServer, token_url: str) -> None:
    """json reads each level by a call of its own: enough levels are a RecursionError, which is
    named like any answer that cannot be read, not shown as a traceback."""
    # 100,000 levels: json on 3.13 reads 10,000 levels (1,000 to 1,500 before), so 5,000 levels
    # are a plain array there; 100,000 stay too deep on every Python the plugin supports.
    nested = "[" * 100_000 + "]" * 100_000
    answer_text(httpserver, nested, 400, "application/json")
    assert failure(token_url) == Failure(
        f"{token_url} answered HTTP 400 (application/json), JSON nested too deep to read: "
        f"{nested[:EXCERPT]!r}; {CHECK_URL}"
    )


def test_an_error_page_is_retried_then_quoted(httpserver: HTTPServer, token_url: str) -> None:
    answer_text(httpserver, "<html><body>502 Bad Gateway</body></html>", 502, "text/html")
    # A budget the retries' pauses (0.4 s, then 0.8 s) leave most of, however slow the machine.
    assert failure(token_url, timeout=BUDGET) == Failure(
        f"{token_url} answered HTTP 502 (text/html), not JSON: "
        f"'<html><body>502 Bad Gateway</body></html>'; {CHECK_URL}"
    )
    assert len(httpserver.log) == 4  # the first try and three retries


def test_an_answer_without_a_content_type(httpserver: HTTPServer, token_url: str) -> None:
    untyped = Response(b"oops", status=400)
    del untyped.headers["Content-Type"]
    httpserver.expect_request("/oauth/token").respond_with_response(untyped)
    assert failure(token_url).message == (
        f"{token_url} answered HTTP 400 (no content type), not JSON: 'oops'; {CHECK_URL}"
    )


def test_the_excerpt_is_cut_short(httpserver: HTTPServer, token_url: str) -> None:
    answer_text(httpserver, "x" * 1000, 400, "text/plain")
    assert failure(token_url).message == (
        f"{token_url} answered HTTP 400 (text/plain), not JSON: {'x' * EXCERPT!r}; {CHECK_URL}"
    )


def test_retries_stop_when_the_time_budget_is_spent(httpserver: HTTPServer) -> None:
    # A path of its own: only this test's tries are answered (and counted) here.
    busy_url = httpserver.url_for("/busy/oauth/token")

    def ten_seconds_busy(request: Request) -> Response:
        clock.advance(10)  # each answer takes ten seconds, on the plugin's clock
        return Response("busy", status=503, content_type="text/plain")

    httpserver.expect_request("/busy/oauth/token").respond_with_handler(ten_seconds_busy)
    assert failure(busy_url, timeout=30).message.startswith(f"{busy_url} answered HTTP 503")
    # After the third answer the 30 s are spent: the third retry (of three) is not sent.
    tries = [request for request, _ in httpserver.log if request.path == "/busy/oauth/token"]
    assert len(tries) == 3


# A server that echoes the request body quotes the credentials: they are masked in the message,
# which is kept for the whole run (and, under pytest-xdist, handed to every worker).


def echo(status: int, content_type: str, template: str) -> Callable[[Request], Response]:
    """A handler that quotes the credentials it was sent, still form-encoded, in its answer
    (which takes the whole budget: no retry of a 5xx)."""

    def respond(request: Request) -> Response:
        fields = request.get_data(as_text=True).split("&")
        sent = "&".join(f for f in fields if f.startswith(("password=", "client_secret=")))
        clock.advance(BUDGET)
        return Response(template.format(sent=sent), status=status, content_type=content_type)

    return respond


@pytest.mark.parametrize(
    ("status", "content_type", "template"),
    [
        (500, "text/html", "<html>could not handle {sent}</html>"),
        (400, "text/plain", "bad request: {sent}"),
        (422, "application/json", '{{"detail": "cannot parse {sent}"}}'),
        (400, "application/json", '{{"error": "invalid_request", "error_description": "{sent}"}}'),
    ],
    ids=["html-5xx", "text-4xx", "json-without-error-code", "json-error-description"],
)
def test_an_answer_that_echoes_the_request_body_shows_no_secret(
    httpserver: HTTPServer, token_url: str, status: int, content_type: str, template: str
) -> None:
    httpserver.expect_request("/oauth/token").respond_with_handler(
        echo(status, content_type, template)
    )
    message = failure(token_url, timeout=BUDGET).message
    assert "password=********" in message  # the echo is quoted, the secret masked
    assert "client_secret=********" in message
    shown = [form for secret in SECRETS for form in forms(secret) if form in message]
    assert shown == []


def test_a_secret_across_the_end_of_the_excerpt_shows_no_head(
    httpserver: HTTPServer, token_url: str
) -> None:
    secret = reference_server.PASSWORD
    answer_text(httpserver, "x" * (EXCERPT - 10) + secret, 400, "text/plain")
    known = KnownSecrets()
    known.add(secret)
    outcome = post_grant(token_url, {}, timeout=5, masker=Masker(known))
    assert isinstance(outcome, Failure)
    assert secret[:10] not in outcome.message


# Nothing, or something that is not HTTP, at the other end.


def unused_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port: int = unused.getsockname()[1]
    return port


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{unused_port()}/oauth/token"
    assert failure(url, timeout=10) == Failure(f"connection refused for {url}; {CHECK_URL}")


def test_an_unknown_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # A resolver that knows no such host, so the test sends no DNS query off this machine.
    real = socket.getaddrinfo

    def resolve(host: str, *args: object, **kwargs: object) -> object:
        if host == "barapi.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url = "https://barapi.invalid/oauth/token"
    assert failure(url, timeout=10) == Failure(f"unknown host for {url}; {CHECK_URL}")


def test_a_server_that_does_not_speak_tls(httpserver: HTTPServer) -> None:
    url = httpserver.url_for("/oauth/token").replace("http://", "https://")
    assert failure(url) == Failure(f"TLS handshake failed for {url}; {CHECK_URL}")


@pytest.fixture
def hangs_up() -> Iterator[str]:
    """A token URL whose server accepts each connection and closes it without a word."""

    class HangUp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), HangUp) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/oauth/token"
        server.shutdown()


def test_a_server_that_hangs_up(hangs_up: str) -> None:
    assert failure(hangs_up) == Failure(
        f"{hangs_up} closed the connection without answering; {CHECK_URL}"
    )


def test_a_server_that_does_not_answer_in_time(httpserver: HTTPServer, token_url: str) -> None:
    answered = threading.Event()
    arrived: list[str] = []

    def slow(request: Request) -> Response:
        arrived.append(request.method)
        answered.wait(5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/oauth/token").respond_with_handler(slow)
    try:
        outcome = failure(token_url, timeout=0.3)
    finally:
        answered.set()
    assert outcome == Failure(
        f"timed out after 0.3s waiting for {token_url}; check that the token server is up, "
        "or raise --barapi-timeout / BARAPI_TIMEOUT"
    )
    # Once the server has answered whatever reached it (a retry would queue behind the POST):
    settle(httpserver)
    assert len(arrived) <= 1  # the POST that may have arrived is not sent again


# A value the settings read from bytes that are not UTF-8: BARAPI_PASSWORD=$'fake-\xf6...' in a
# shell with a latin-1 profile reaches Python with a lone surrogate for the byte.
LATIN_1_PASSWORD = "fake-latin-1-pw-\udcf6-Qm4"


@pytest.mark.parametrize("client_auth", ["body", "basic"])
def test_a_password_that_is_not_utf8_is_named_and_nothing_is_sent(
    httpserver: HTTPServer, token_url: str, client_auth: str
) -> None:
    identity = IDENTITY.overridden(password=Secret(LATIN_1_PASSWORD))
    outcome = post_grant(
        token_url,
        identity.password_grant(),
        timeout=5,
        masker=the_runs_masker(),
        client_auth=client_auth,
    )
    assert outcome == Failure(
        "the password is not UTF-8 text (its bytes are in another encoding, latin-1 say); no "
        "request sent: set --barapi-password / BARAPI_PASSWORD in UTF-8"
    )
    assert isinstance(outcome, Failure)
    # Not the codec's own words: they quote the character and its position in the password.
    assert "\udcf6" not in outcome.worded()
    assert "position" not in outcome.worded()
    assert httpserver.log == []


def test_a_refresh_token_that_is_not_utf8_is_named_and_nothing_is_sent(
    httpserver: HTTPServer, token_url: str
) -> None:
    """The server's token, not a setting: nothing of the user's to fix, so no setting named."""
    outcome = post_grant(
        token_url,
        IDENTITY.refresh_grant("fake-refresh-\udfff-token"),
        timeout=5,
        masker=the_runs_masker(),
    )
    assert outcome == Failure("the refresh_token is not UTF-8 text; no request sent")
    assert httpserver.log == []
