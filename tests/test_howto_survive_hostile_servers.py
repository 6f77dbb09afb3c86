"""The exchange holds when the token endpoint, or the network on the way, works against it.

Most tests post one grant with the exchange itself (``post_grant``) to a loopback server that
misbehaves on purpose, and check the one-line failure word for word: a run shows the same line
after ``barapi: `` (``test_howto_read_errors.py``). A full run is made where only a run shows
the behaviour: that a trickling server ends the run's wait, and what a blocked network says.
No test measures how long anything took: a deadline shows in the "timed out" line, which a
server that gave up first (after 20 s) would have turned into another failure.
"""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer
from urllib3.util.retry import Retry
from werkzeug import Request, Response

from pytest_barapi.exchange import post_grant
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.masking import Masker
from pytest_barapi.outcome import Failure, Outcome
from pytest_barapi.token import LONGEST_LIFETIME, BarapiToken
from tests import hostile_server, reference_server
from tests.hostile_server import ForwardProxy, RawServer
from tests.reference_server import ReferenceServer

FORM = {
    "grant_type": "password",
    "client_id": reference_server.CLIENT_ID,
    "client_secret": reference_server.CLIENT_SECRET,
    "username": reference_server.USER,
    "password": reference_server.PASSWORD,
    "scope": "",
}
TOKEN = {"access_token": "fake-access-Hs1", "token_type": "Bearer", "expires_in": 60}


def post(url: str, timeout: float = 5.0) -> Outcome:
    return post_grant(f"{url}/oauth/token", FORM, timeout=timeout, masker=Masker(KnownSecrets()))


def failure(url: str, timeout: float = 5.0) -> str:
    outcome = post(url, timeout)
    assert isinstance(outcome, Failure), outcome
    return outcome.message


def token_endpoint_url(httpserver: HTTPServer) -> str:
    return httpserver.url_for("").rstrip("/")


# Time: one deadline for the whole grant.


@pytest.mark.parametrize("behaviour", [hostile_server.trickled_answer, hostile_server.slow_headers])
def test_an_answer_that_trickles_in_is_cut_off_at_the_timeout(
    behaviour: hostile_server.Behaviour,
) -> None:
    # A byte every 0.2 s never trips a socket's timeout; the server would trickle for 20 s.
    # "timed out" (not a truncated answer) says the one-second deadline ended it.
    with RawServer(behaviour).running() as server:
        message = failure(server.url, timeout=1)
    assert message == (
        f"timed out after 1s waiting for {server.url}/oauth/token; check that the token "
        "server is up, or raise --barapi-timeout / BARAPI_TIMEOUT"
    )
    assert server.connections == 1  # a POST that may have arrived is not sent again


def test_a_run_against_a_trickling_server_ends_in_time(pytester: pytest.Pytester) -> None:
    with RawServer(hostile_server.trickled_answer).running() as server:
        pytester.makepyfile("def test_token(barapi_token): pass")
        result = pytester.runpytest(
            f"--barapi-url={server.url}",
            "--barapi-timeout=1",
            f"--barapi-user={reference_server.USER}",
            f"--barapi-password={reference_server.PASSWORD}",
            f"--barapi-client-id={reference_server.CLIENT_ID}",
            f"--barapi-client-secret={reference_server.CLIENT_SECRET}",
        )
    result.assert_outcomes(errors=1)
    assert (
        f"barapi: timed out after 1s waiting for {server.url}/oauth/token; check that the "
        "token server is up, or raise --barapi-timeout / BARAPI_TIMEOUT"
    ) in result.outlines
    assert server.connections == 1


# Size: a token answer is small; more is not read.


def gzip_bomb() -> bytes:
    """100 MiB of zeros, gzipped to about 100 KiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
    zeros = bytes(1024 * 1024)
    return b"".join([*(compressor.compress(zeros) for _ in range(100)), compressor.flush()])


# In a process of its own: the servers' threads in this one allocate too (one still sending
# the previous test's 50 MB while this test measures).
PEAK_OF_A_GRANT = """
import json, sys, tracemalloc
from tests.test_howto_survive_hostile_servers import failure
tracemalloc.start()
message = failure(sys.argv[1])
print(json.dumps([message, tracemalloc.get_traced_memory()[1]]))
"""


def peak_memory_of_a_grant(url: str) -> tuple[str, int]:
    """The failure, and the most memory Python held at once while posting it."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_OF_A_GRANT, url],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    message, peak = json.loads(done.stdout)
    return message, peak


def test_an_answer_of_more_than_1_mib_is_not_read_further() -> None:
    with RawServer(hostile_server.answer_of(megabytes=50)).running() as server:
        message, peak = peak_memory_of_a_grant(server.url)
    assert message == (
        f"{server.url}/oauth/token answered more than 1 MiB (HTTP 200), which is not a token; "
        "check --barapi-url / BARAPI_URL"
    )
    assert peak < 4 * 1024 * 1024  # was 150 MB


def test_a_compressed_answer_is_not_inflated_past_1_mib(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oauth/token").respond_with_data(
        gzip_bomb(), content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    url = token_endpoint_url(httpserver)
    message, peak = peak_memory_of_a_grant(url)
    assert message == (
        f"{url}/oauth/token answered more than 1 MiB (HTTP 200), which is not a token; "
        "check --barapi-url / BARAPI_URL"
    )
    assert peak < 4 * 1024 * 1024  # was 1 GB for these 100 MiB of zeros


# Garbage: a connection was made, and what came back was not an answer.


def test_a_server_that_closes_without_answering(httpserver: HTTPServer) -> None:
    with RawServer(hostile_server.no_answer).running() as server:
        message = failure(server.url)
    assert message == (
        f"{server.url}/oauth/token closed the connection without answering; "
        "check --barapi-url / BARAPI_URL"
    )
    assert server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 OK\r\n\r\n", b"\x16\x03\x01\x00\x02\x02\x28"],
    ids=["ssh", "broken-status-line", "tls-alert"],
)
def test_a_server_that_does_not_speak_http(answer: bytes) -> None:
    with RawServer(hostile_server.answers_with(answer)).running() as server:
        message = failure(server.url)
    assert message == (
        f"{server.url}/oauth/token answered something that is not HTTP; "
        "check --barapi-url / BARAPI_URL"
    )


def test_a_body_that_cannot_be_decoded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oauth/token").respond_with_data(
        b"not gzip at all", content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    url = token_endpoint_url(httpserver)
    assert failure(url) == (
        f"{url}/oauth/token sent a body that could not be decoded (Content-Encoding: gzip); "
        "check --barapi-url / BARAPI_URL"
    )


def test_a_gzipped_token_is_read(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oauth/token").respond_with_data(
        gzip.compress(b'{"access_token": "fake-access-Hs1", "token_type": "Bearer"}'),
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    outcome = post(token_endpoint_url(httpserver))
    assert isinstance(outcome, BarapiToken)
    assert outcome.access_token == "fake-access-Hs1"


# Answers that are HTTP, and say something other than a token.


def test_a_rate_limit_says_so_with_its_retry_after_and_is_not_retried(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/oauth/token").respond_with_json(
        {"error": "slow_down"}, status=429, headers={"Retry-After": "120"}
    )
    url = token_endpoint_url(httpserver)
    assert failure(url) == (
        f"{url}/oauth/token answered HTTP 429 Too Many Requests, Retry-After: 120: the token "
        "server is rate-limiting token requests; not retried, wait before running again"
    )
    assert len(httpserver.log) == 1


def test_a_redirect_names_where_it_leads_and_is_not_followed(httpserver: HTTPServer) -> None:
    elsewhere = httpserver.url_for("/elsewhere/oauth/token")
    httpserver.expect_request("/oauth/token").respond_with_data(
        "", status=302, headers={"Location": elsewhere}
    )
    url = token_endpoint_url(httpserver)
    assert failure(url) == (
        f"{url}/oauth/token answered HTTP 302 redirecting to {elsewhere!r}; a grant is not "
        "sent on to another address: set --barapi-url / BARAPI_URL to the token server's own"
    )
    assert [entry[0].path for entry in httpserver.log] == ["/oauth/token"]


@pytest.mark.parametrize("expires_in", [10**12, -(10**12)])
def test_an_absurd_lifetime_is_cut_to_ten_years(httpserver: HTTPServer, expires_in: int) -> None:
    httpserver.expect_request("/oauth/token").respond_with_json({**TOKEN, "expires_in": expires_in})
    token = post(token_endpoint_url(httpserver))
    assert isinstance(token, BarapiToken)
    assert abs(token.expires_in or 0) == LONGEST_LIFETIME
    assert token.expires_at is not None
    years = (token.expires_at - datetime.now(timezone.utc)).days / 365
    assert round(abs(years)) == 10
    assert repr(token).startswith("BarapiToken(token_type='Bearer', expires_at=")


def test_an_infinite_lifetime_is_not_a_number(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oauth/token").respond_with_data(
        '{"access_token": "a", "token_type": "Bearer", "expires_in": 1e400}',
        content_type="application/json",
    )
    url = token_endpoint_url(httpserver)
    assert failure(url) == f"{url}/oauth/token answered a non-integer expires_in"


# The log: the failure says it all, once.


def unused_port_url() -> str:
    closed = HTTPServer(host="127.0.0.1", port=0)
    closed.start()
    url = closed.url_for("").rstrip("/")
    closed.stop()
    return url


def test_retries_of_a_refused_connection_log_no_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = unused_port_url()
    with caplog.at_level(logging.WARNING):
        # Every retry is made (1.2 s of pauses) well inside the budget, however slow the
        # machine: a deadline met on the way would make it "timed out".
        message = failure(url, timeout=30)
        assert message.startswith("connection refused for")
        assert [record.getMessage() for record in caplog.records] == []
        # Only the exchange's own: the same retries made by a test still log.
        with requests.Session() as http:
            retry = Retry(total=1, backoff_factor=0)
            http.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))
            with pytest.raises(requests.ConnectionError):
                http.get(url)
    assert any(record.getMessage().startswith("Retrying (") for record in caplog.records)


# The network users have: proxies and CA bundles from the environment, never .netrc.


@pytest.fixture
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """None of the machine's own proxy variables."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_the_grant_goes_through_the_proxy_the_environment_names(
    barapi_server: ReferenceServer, no_proxy_settings: pytest.MonkeyPatch
) -> None:
    with ForwardProxy().running() as proxy:
        # requests sends even loopback through a proxy, unless NO_PROXY says otherwise.
        no_proxy_settings.setenv("HTTP_PROXY", proxy.url)
        assert isinstance(post(barapi_server.url), BarapiToken)
        no_proxy_settings.setenv("NO_PROXY", "localhost")
        assert isinstance(post(barapi_server.url), BarapiToken)
    assert proxy.forwarded == [f"{barapi_server.url}/oauth/token"]
    assert barapi_server.token_request_count == 2


def test_credentials_in_netrc_are_never_sent(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine localhost login netrc-user password netrc-password-Nr5\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    url = token_endpoint_url(httpserver)
    # What requests would add to a request that has no credentials of its own:
    assert requests.utils.get_netrc_auth(url) == ("netrc-user", "netrc-password-Nr5")
    sent: list[str | None] = []

    def token(request: Request) -> Response:
        sent.append(request.headers.get("Authorization"))
        return Response('{"access_token": "a", "token_type": "Bearer"}', 200)

    httpserver.expect_request("/oauth/token").respond_with_handler(token)
    assert isinstance(post(url), BarapiToken)
    assert sent == [None]


# A network blocked by a test plugin: say which, and what to do instead.


def test_a_blocked_network_names_the_way_out(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    # The exchange happens inside the test, where pytest-recording's block applies.
    pytester.makepyfile(
        """
        def test_bob(barapi_session_factory):
            barapi_session_factory(scope="read")
        """
    )
    result = pytester.runpytest("--block-network")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "barapi (barapi_session_factory, user 'alice@example.test'): the network is blocked "
            "by pytest-recording's --block-network (RuntimeError): no request sent to "
            f"{barapi_server.url}/oauth/token; replay the token from a cassette "
            "(--barapi-cassette / BARAPI_CASSETTE, recorded once with --record-mode=once), or "
            "let the host through (--allowed-hosts)"
        ]
    )
    assert barapi_server.token_request_count == 0


def test_a_ca_bundle_from_the_environment_is_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca_file, context = hostile_server.certificate_authority(tmp_path)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request("/oauth/token").respond_with_json(TOKEN)
    server.start()
    try:
        url = server.url_for("").rstrip("/")
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        assert failure(url) == (
            f"TLS handshake failed for {url}/oauth/token; check --barapi-url / BARAPI_URL"
        )
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
        assert isinstance(post(url), BarapiToken)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("flag", "error", "way"),
    [
        (
            "--disable-socket",
            "SocketBlockedError",
            "let it use the network (@pytest.mark.enable_socket)",
        ),
        (
            "--allow-hosts=192.0.2.1",
            "SocketConnectBlockedError",
            "let the host through (--allow-hosts)",
        ),
    ],
)
def test_a_network_blocked_by_pytest_socket_names_the_way_out(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, flag: str, error: str, way: str
) -> None:
    pytester.makepyfile("def test_token(barapi_token): pass")
    result = pytester.runpytest_subprocess(flag)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"barapi: the network is blocked by pytest-socket ({error}): no request sent to "
            f"{barapi_server.url}/oauth/token; replay the token from a cassette "
            "(--barapi-cassette / BARAPI_CASSETTE, recorded once with --record-mode=once), or "
            f"{way}"
        ]
    )
    assert barapi_server.token_request_count == 0
