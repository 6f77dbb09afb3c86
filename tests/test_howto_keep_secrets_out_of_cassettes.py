"""How cassettes stay free of secrets: scrubbed when recorded, scanned before kept (fail closed).

The token cassette keeps only what its replay needs, with placeholders for the credentials
and tokens. The API cassettes pytest-recording writes keep everything but barapi's secrets,
which are replaced, where the cassette's structure says they stand, with the placeholder a
replay sends. Grants never pass through an API cassette, even when made during a recorded test.
The credentials here have characters that URL-encoding changes, so "raw" and "URL-encoded" are
different strings to look for.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pytest_barapi.cassette_guard import placed
from pytest_barapi.known_secrets import KnownSecrets
from tests import leak_matrix, reference_server
from tests.conftest import CASSETTE, go_offline
from tests.reference_server import OTHER_USER, UNRELATED_JWT, ReferenceServer
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
    (api_call,) = interactions(user_suite.path / "cassettes/test_api/test_me.yaml")
    assert api_call["request"]["headers"]["Authorization"] == ["Bearer placeholder-access-token"]

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


def test_a_users_vcr_config_and_hooks_apply_and_only_the_token_is_replaced(
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
    # The token, by value: what a replay sends in its place.
    assert headers["authorization"] == ["Bearer placeholder-access-token"]
    # Their filters and hooks apply, untouched.
    assert headers["user-agent"] == ["scrubbed-by-the-user"]
    assert headers["x-recorded-by"] == ["the user's own hook"]
    (access_token, _refresh) = barapi_server.issued_secrets()
    assert access_token not in api_cassette.read_text()

    # And the filtered cassette still replays.
    go_offline(monkeypatch, httpserver)
    user_suite.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=2)
    assert httpserver.log == []


CANNED_ACCESS_TOKEN = "canned-access-token-Zq81"


TOKEN_ANSWER = {"access_token": CANNED_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 60}


@pytest.mark.parametrize(
    ("answer", "finding"),
    [
        (
            Response(json.dumps({**TOKEN_ANSWER, "scope": f"read {PASSWORD}"})),
            "the password in interaction 1, response body",
        ),
        (
            Response(
                json.dumps(TOKEN_ANSWER),
                content_type=f"application/json; note={quote_plus(CLIENT_SECRET)}",
            ),
            "the client secret in interaction 1, response header Content-Type",
        ),
        (
            Response(json.dumps(TOKEN_ANSWER), status=f"200 {CANNED_ACCESS_TOKEN}"),
            "the access token in interaction 1, response status message",
        ),
    ],
    ids=["password-in-the-scope", "url-encoded-secret-in-the-type", "token-in-the-reason"],
)
def test_a_secret_the_scrub_misses_keeps_no_cassette_and_fails(
    pytester: pytest.Pytester,
    token_endpoint: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    answer: Response,
    finding: str,
) -> None:
    """The token cassette keeps what a replay needs; a server that echoes a secret there is
    caught by the scan. What else the scan finds, and how it names it, is in
    test_cassette_scan.py."""
    monkeypatch.setenv("BARAPI_PASSWORD", PASSWORD)
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", CLIENT_SECRET)
    token_endpoint.expect_request("/oauth/token", method="POST").respond_with_response(answer)
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
            f"{finding}; it was not written, and a cassette there before is kept as it was. "
            "Check what the token endpoint sends back, or report this as a pytest-barapi bug."
        ]
    )
    assert list((pytester.path / "cassettes").iterdir()) == []  # nor a temporary file
    output = result.stdout.str() + result.stderr.str()
    for secret in (*forms(PASSWORD), *forms(CLIENT_SECRET), CANNED_ACCESS_TOKEN):
        assert secret not in output


def test_a_refused_re_recording_keeps_the_token_cassette_that_was_there(
    pytester: pytest.Pytester, token_endpoint: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_PASSWORD", PASSWORD)
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", CLIENT_SECRET)
    token_endpoint.expect_request("/oauth/token", method="POST").respond_with_json(
        {**TOKEN_ANSWER, "scope": f"read {PASSWORD}"}
    )
    pytester.makeini(f"[pytest]\nbarapi_cassette = {CASSETTE}\n")
    committed = pytester.path / CASSETTE
    committed.parent.mkdir(parents=True)
    committed.write_bytes(b"# the cassette the user committed\ninteractions: []\n")
    pytester.makepyfile("def test_token(barapi_token): pass")

    result = pytester.runpytest("--record-mode=rewrite", "-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*it was not written, and a cassette there before is kept*"])
    assert committed.read_bytes() == b"# the cassette the user committed\ninteractions: []\n"
    assert [path.name for path in committed.parent.iterdir()] == [committed.name]


def test_the_token_cassette_keeps_only_what_replay_needs(
    pytester: pytest.Pytester, token_endpoint: HTTPServer
) -> None:
    # A 503 first (the exchange retries it), then the token with more than a replay reads.
    token_endpoint.expect_ordered_request("/oauth/token", method="POST").respond_with_data(
        "busy", status=503
    )
    token_endpoint.expect_ordered_request("/oauth/token", method="POST").respond_with_json(
        {**TOKEN_ANSWER, "id_token": "canned-id-token", "issued_at": 1700000000},
        headers={
            "Set-Cookie": "session=s3cr3t-cookie; HttpOnly",
            "Cache-Control": "no-store",
            "X-Request-Id": "a different one each time",
        },
    )
    pytester.makeini(f"[pytest]\nbarapi_cassette = {CASSETTE}\n")
    pytester.makepyfile("def test_token(barapi_token): pass")

    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)

    assert len(token_endpoint.log) == 2
    (interaction,) = interactions(pytester.path / CASSETTE)
    body = '{"access_token": "placeholder-access-token", "expires_in": 60, "token_type": "Bearer"}'
    assert interaction == {
        # No header: replay matches on method and URL (a User-Agent changes with versions).
        "request": {
            "method": "POST",
            "uri": f"{token_endpoint.url_for('/oauth/token')}",
            "body": "grant_type=password&client_id=placeholder-client-id&client_secret="
            "placeholder-client-secret&username=placeholder-user&password=placeholder-password"
            "&scope=",
            "headers": {},
        },
        # No Date, Server, cookie or header the replay does not read; the token fields only.
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Length": [str(len(body))], "Content-Type": ["application/json"]},
            "body": {"string": body},
        },
    }


def test_a_password_that_is_a_protocol_word_still_records(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "password" is also a form field name and the grant type: that is not a leak.
    barapi_server.users[reference_server.USER] = "password"
    monkeypatch.setenv("BARAPI_PASSWORD", "password")

    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)

    assert (user_suite.path / CASSETTE).is_file()


def test_a_password_that_is_the_scope_is_refused_with_what_to_change(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token cassette holds the scope as it is (a replay sends it): a password that is
    the same text cannot be kept out of it. A setting to change, not a bug."""
    barapi_server.users[reference_server.USER] = "read"
    monkeypatch.setenv("BARAPI_PASSWORD", "read")
    monkeypatch.setenv("BARAPI_SCOPE", "read")

    result = user_suite.runpytest("--record-mode=once")

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "barapi: refusing to keep the cassette cassettes/barapi_token.yaml: the password is "
            "the same text as a scope the grant asks for (--barapi-scope / BARAPI_SCOPE), "
            "which the token cassette holds as it is, so it would show the password; it "
            "was not written, and a cassette there before is kept as it was. Record with a "
            "password that is not one of the scopes."
        ]
    )
    assert "report this as a pytest-barapi bug" not in result.stdout.str()
    assert not (user_suite.path / CASSETTE).exists()


def test_a_password_that_shares_12_characters_with_the_token_url_records_and_replays(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token cassette's scan reads the file by structure and looks for a secret whole:
    the URL's ``/oauth/token`` is no piece of the password ``/oauth/token-pw2`` there."""
    barapi_server.users[reference_server.USER] = "/oauth/token-pw2"
    monkeypatch.setenv("BARAPI_PASSWORD", "/oauth/token-pw2")

    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)

    assert "/oauth/token-pw2" not in (user_suite.path / CASSETTE).read_text()
    go_offline(monkeypatch, httpserver)
    user_suite.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=2)


# Grants made while a recorded test runs: a renewal, or another identity asked for in the body.
GRANTS_INSIDE_A_RECORDED_TEST = {
    "expiring": """
        import pytest

        from pytest_barapi import clock

        @pytest.mark.vcr
        def test_me_after_the_token_expires(barapi_session, barapi_token):
            clock.advance(barapi_token.expires_in)  # the token expires: renewed before the call
            assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
        """,
    "revoked": """
        import pytest

        @pytest.mark.vcr
        def test_me_with_a_revoked_token(barapi_session):
            # barapi answers 401 invalid_token; the token is renewed and the call sent again
            assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
        """,
    "factory": """
        import os

        import pytest

        @pytest.mark.vcr
        def test_bob_in_the_test_body(barapi_session_factory):
            bob = barapi_session_factory(
                user="bob@example.test", password=os.environ.get("BOB_PASSWORD")
            )
            assert bob.get("/v1/me").json()["user"] == "bob@example.test"
        """,
}


@pytest.mark.parametrize(
    ("case", "grants"),
    [
        ("expiring", ["password", "refresh_token"]),
        ("revoked", ["password", "refresh_token"]),
        ("factory", ["password"]),
    ],
)
def test_a_grant_inside_a_recorded_test_never_reaches_its_cassette(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    grants: list[str],
) -> None:
    barapi_server.users.update(
        {reference_server.USER: leak_matrix.PASSWORD, OTHER_USER: leak_matrix.OTHER_PASSWORD}
    )
    barapi_server.clients[reference_server.CLIENT_ID] = leak_matrix.CLIENT_SECRET
    monkeypatch.setenv("BARAPI_PASSWORD", leak_matrix.PASSWORD)
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", leak_matrix.CLIENT_SECRET)
    monkeypatch.setenv("BOB_PASSWORD", leak_matrix.OTHER_PASSWORD)
    if case == "revoked":
        barapi_server.before_api_request[1] = barapi_server.revoke_access_tokens
    pytester.makeini(
        f"""
        [pytest]
        barapi_url = {barapi_server.url}
        barapi_user = {reference_server.USER}
        barapi_client_id = {reference_server.CLIENT_ID}
        barapi_cassette = {CASSETTE}
        """
    )
    pytester.makepyfile(**{f"test_{case}": GRANTS_INSIDE_A_RECORDED_TEST[case]})

    result = pytester.runpytest("--record-mode=once")

    result.assert_outcomes(passed=1)
    # The grant made during the test went to the token endpoint, and not into its cassette.
    assert barapi_server.grant_types() == grants
    (api_cassette,) = (pytester.path / "cassettes" / f"test_{case}").iterdir()
    calls = interactions(api_cassette)
    assert {call["request"]["uri"] for call in calls} == {f"{barapi_server.url}/v1/me"}
    assert all(
        call["request"]["headers"]["Authorization"] == ["Bearer placeholder-access-token"]
        for call in calls
    )
    leakable = leak_matrix.Leakable(
        credentials=[leak_matrix.PASSWORD, leak_matrix.CLIENT_SECRET, leak_matrix.OTHER_PASSWORD],
        pairs=[
            (reference_server.CLIENT_ID, leak_matrix.CLIENT_SECRET),
            (reference_server.USER, leak_matrix.PASSWORD),
            (OTHER_USER, leak_matrix.OTHER_PASSWORD),
        ],
        issued=barapi_server.issued_secrets,
    )
    assert len(barapi_server.issued_secrets()) == 2 * len(grants)
    assert leak_matrix.leaks(result, pytester.path, leakable) == []

    # And the recording replays offline.
    go_offline(monkeypatch, httpserver)
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=1)
    assert httpserver.log == []


def test_a_grant_during_a_replayed_test_is_neither_answered_nor_refused_by_its_cassette(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No token cassette: every exchange is live, while the API calls replay (record mode
    none), and the user cassette has no answer for the token endpoint."""
    monkeypatch.setenv("BOB_PASSWORD", reference_server.OTHER_PASSWORD)
    pytester.makepyfile(test_factory=GRANTS_INSIDE_A_RECORDED_TEST["factory"])
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1)

    result = pytester.runpytest("--record-mode=none")

    result.assert_outcomes(passed=1)
    # The grant went to barapi; the API call came from the cassette.
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (2, 1)


OTHER_SERVICE = """
import pytest
import requests

def fixed_date(response):
    # The user's own hook: a cassette that does not change when re-recorded.
    response["headers"]["Date"] = ["Thu, 01 Jan 2026 00:00:00 GMT"]
    return response

@pytest.fixture(scope="module")
def vcr_config():
    return {"before_record_response": fixed_date}

@pytest.mark.vcr
def test_another_service(httpserver_url):
    response = requests.get(
        f"{httpserver_url}/other/me", headers={"Authorization": "Bearer other-service-token"}
    )
    assert response.json() == {"service": "other"}
"""


@pytest.fixture
def other_service(pytester: pytest.Pytester, barapi_server: ReferenceServer) -> pytest.Pytester:
    """A user suite whose recorded test calls another service, with that service's token."""
    barapi_server.httpserver.expect_request("/other/me").respond_with_json(
        {"service": "other"}, headers={"Server": "other/1.0"}
    )
    pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture
        def httpserver_url():
            return {barapi_server.url!r}
        """
    )
    pytester.makepyfile(test_other=OTHER_SERVICE)
    return pytester


def test_a_run_without_barapi_records_what_pytest_recording_records(
    other_service: pytest.Pytester,
) -> None:
    """Credentials are set, so the plugin knows secrets; none of them is in the traffic."""
    cassette = other_service.path / "cassettes/test_other/test_another_service.yaml"
    other_service.runpytest("--record-mode=rewrite", "-p", "no:barapi").assert_outcomes(passed=1)
    without_barapi = cassette.read_bytes()

    other_service.runpytest("--record-mode=rewrite").assert_outcomes(passed=1)

    assert cassette.read_bytes() == without_barapi
    (call,) = interactions(cassette)
    assert call["request"]["headers"]["Authorization"] == ["Bearer other-service-token"]


def test_barapi_calls_lose_the_token_and_other_services_keep_theirs(
    other_service: pytest.Pytester,
) -> None:
    other_service.makepyfile(
        test_both=OTHER_SERVICE
        + """
@pytest.mark.vcr
def test_both(barapi_session, httpserver_url):
    test_another_service(httpserver_url)
    assert barapi_session.get("/v1/me").status_code == 200
"""
    )

    other_service.runpytest("--record-mode=once").assert_outcomes(passed=3)

    calls = interactions(other_service.path / "cassettes/test_both/test_both.yaml")
    assert [call["request"]["headers"]["Authorization"] for call in calls] == [
        ["Bearer other-service-token"],
        ["Bearer placeholder-access-token"],
    ]


def an_avatar_carrying_the_token(request: Request) -> Response:
    """A binary answer that holds the bearer token it was sent: no placeholder can go there."""
    return Response(
        b"\xff\xd8" + request.headers["Authorization"].encode(), content_type="image/jpeg"
    )


def test_a_secret_left_in_an_api_cassette_keeps_it_from_being_written(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """A body that is not text is not rewritten; the scan finds the token in it anyway."""
    barapi_server.httpserver.expect_request("/v1/avatar").respond_with_handler(
        an_avatar_carrying_the_token
    )
    pytester.makepyfile(
        test_avatar="""
        import pytest

        @pytest.mark.vcr
        def test_avatar(barapi_session):
            assert barapi_session.get("/v1/avatar").content.startswith(b"\\xff\\xd8")

        def test_next():
            pass
        """
    )

    result = pytester.runpytest("--record-mode=once")

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_avatar*",
            "barapi: refusing to keep the cassette cassettes/test_avatar/test_avatar.yaml: it "
            "holds the access token in interaction 1, response body (not text), where no "
            "placeholder can take its place without changing what is around it; it was not "
            "written. Keep that secret out of what the test sends and receives there. It had no "
            "cassette before.",
        ]
    )
    assert not (pytester.path / "cassettes" / "test_avatar").exists()
    (access_token, _refresh) = barapi_server.issued_secrets()
    assert access_token not in result.stdout.str()


def test_a_refused_rewrite_gives_the_committed_cassette_back_byte_for_byte(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """pytest-recording deletes the committed cassette before a ``rewrite`` records the test
    again; when the new recording is refused, the committed one is put back as it was."""
    avatar = {"carries the token": False}

    def answer(request: Request) -> Response:
        token = request.headers["Authorization"] if avatar["carries the token"] else "none"
        return Response(b"\xff\xd8" + token.encode(), content_type="image/jpeg")

    barapi_server.httpserver.expect_request("/v1/avatar").respond_with_handler(answer)
    pytester.makepyfile(
        test_avatar="""
        import pytest

        @pytest.mark.vcr
        def test_avatar(barapi_session):
            assert barapi_session.get("/v1/avatar").content.startswith(b"\\xff\\xd8")
        """
    )
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)
    committed = pytester.path / "cassettes/test_avatar/test_avatar.yaml"
    before = committed.read_bytes()
    avatar["carries the token"] = True

    result = pytester.runpytest("--record-mode=rewrite")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "barapi: refusing to keep the cassette cassettes/test_avatar/test_avatar.yaml: *"
            "it was not written. * The cassette it had before is back as it was."
        ]
    )
    assert committed.read_bytes() == before
    assert [file.name for file in committed.parent.iterdir()] == ["test_avatar.yaml"]


def test_a_refused_first_recording_leaves_no_cassette_and_says_so(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    barapi_server.httpserver.expect_request("/v1/avatar").respond_with_handler(
        an_avatar_carrying_the_token
    )
    pytester.makepyfile(
        test_avatar="""
        import pytest

        @pytest.mark.vcr
        def test_avatar(barapi_session):
            barapi_session.get("/v1/avatar")
        """
    )

    result = pytester.runpytest("--record-mode=rewrite")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["barapi: refusing to keep *. It had no cassette before."])
    assert not (pytester.path / "cassettes" / "test_avatar").exists()


def test_each_form_of_each_secret_becomes_the_placeholder_a_replay_sends() -> None:
    known = KnownSecrets()
    known.add("fake-access-1-Zq-long-enough", kind="access_token")
    known.add_pair("alice", "access", kind="password")  # weak, and part of a placeholder
    known.add_pair("client", "s3cr/t ü", kind="client_secret")
    basic = base64.b64encode("client:s3cr/t ü".encode()).decode()
    recorded = {
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "https://barapi.test/v1/files?token=fake-access-1-Zq-long-enough"
                    "&password=access&secret=s3cr%2Ft+%C3%BC",
                    "headers": {
                        "Authorization": ["Bearer fake-access-1-Zq-long-enough"],
                        "X-Other": ["Basic " + basic],
                    },
                    "body": '{"secret": "s3cr/t \\u00fc", "note": "access granted", '
                    '"credentials": "alice:access"}',
                },
                "response": {
                    "body": {"string": "client_secret=s3cr%2Ft+%C3%BC&x=1"},
                    "headers": {},
                },
            }
        ]
    }

    with_placeholders, problems = placed(recorded, known)

    assert problems == []
    assert with_placeholders["interactions"][0] == {
        "request": {
            "method": "POST",
            "uri": "https://barapi.test/v1/files?token=placeholder-access-token"
            "&password=placeholder-password&secret=placeholder-client-secret",
            "headers": {
                "Authorization": ["Bearer placeholder-access-token"],
                # HTTP Basic: no placeholder says both halves (nor the length)
                "X-Other": ["Basic ********"],
            },
            # A word of a sentence is the sentence's; after a colon, a whole value.
            "body": '{"secret": "placeholder-client-secret", "note": "access granted", '
            '"credentials": "alice:placeholder-password"}',
        },
        "response": {
            "body": {"string": "client_secret=placeholder-client-secret&x=1"},
            "headers": {},
        },
    }


def test_another_jwt_in_a_binary_answer_is_kept_under_rewrite(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The access token is a JWT; an image carries another JWT, which shares its header. No
    piece of a token is looked for in a cassette: re-recording keeps the answer byte for byte,
    and the replay gives what the server sent."""
    barapi_server.jwt_tokens = True
    image = b"\x89PNG\r\n\x1a\n\xff" + UNRELATED_JWT.encode() + b"\x00"
    httpserver.expect_request("/v1/avatar").respond_with_data(image, content_type="image/png")
    pytester.makeini(f"[pytest]\nbarapi_url = {barapi_server.url}\nbarapi_cassette = {CASSETTE}\n")
    pytester.makepyfile(
        test_avatar="""
        import pytest

        @pytest.mark.vcr
        def test_avatar(barapi_session):
            with open("avatar.bin", "wb") as file:
                file.write(barapi_session.get("/v1/avatar").content)
        """
    )
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)
    committed = pytester.path / "cassettes/test_avatar/test_avatar.yaml"

    pytester.runpytest("--record-mode=rewrite").assert_outcomes(passed=1)

    ((interaction,),) = [yaml.safe_load(committed.read_text())["interactions"]]
    assert interaction["response"]["body"]["string"] == image
    (access_token, _refresh) = barapi_server.issued_secrets()[-2:]
    assert access_token.split(".")[0] == UNRELATED_JWT.split(".")[0]
    (pytester.path / "avatar.bin").unlink()
    go_offline(monkeypatch, httpserver)
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=1)
    assert (pytester.path / "avatar.bin").read_bytes() == image


def test_a_binary_answer_the_json_serializer_cannot_write_says_what_to_use(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/avatar").respond_with_data(
        b"\x89PNG\xff\x00", content_type="image/png"
    )
    pytester.makeini(f"[pytest]\nbarapi_url = {barapi_server.url}\nbarapi_cassette = {CASSETTE}\n")
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="module")
        def vcr_config():
            return {"serializer": "json"}
        """
    )
    pytester.makepyfile(
        test_avatar="""
        import pytest

        @pytest.mark.vcr
        def test_avatar(barapi_session):
            barapi_session.get("/v1/avatar")
        """
    )

    result = pytester.runpytest("--record-mode=once")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "barapi: could not write the cassette cassettes/test_avatar/test_avatar.json: it "
            "holds a body that is not text, which vcrpy's json serializer cannot write; it was "
            'not written. Record this test with the yaml serializer ("serializer": "yaml" in '
            "its vcr_config). It had no cassette before."
        ]
    )
    assert not (pytester.path / "cassettes" / "test_avatar").exists()
