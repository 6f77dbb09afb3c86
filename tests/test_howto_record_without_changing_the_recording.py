"""How a recording keeps every byte that is not a secret, whatever the password.

barapi's secrets are replaced by structure, not by substring: where a secret is a whole value
(a header's, the token after ``Bearer``, a query or form field's, a JSON string that is the
secret) or stands as one inside a string (``alice:Koa7``: the secret, nothing around it); a
secret of 12 characters or more wherever it stands. Never inside a longer word (``test`` in
``latest``, ``staff`` in ``is_staff``), a word of a sentence (``first``), a value HTTP defines
(``Connection: close``, the status message ``OK``), a JSON number or ``true``, nor where a
piece of it matches (two JWTs share their header). Each case here records against the
reference server with credentials, replays offline with none, and compares what the replayed
test received with what the server sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from pytest_barapi.cassette_guard import placed, scanned, secrets_of
from pytest_barapi.known_secrets import MASKED, KnownSecrets
from tests import reference_server
from tests.conftest import CASSETTE, go_offline
from tests.reference_server import JWT_HEADER, UNRELATED_JWT, ReferenceServer

# A client secret holding words a cassette is full of.
CLIENT_SECRET = "my scope:Koala-77"

CAREFUL_USERS_TESTS = """
import json
import os

import pytest


def keep(answer):
    with open("answers.txt", "a") as file:
        file.write(answer.text + "\\n")


@pytest.mark.vcr
def test_the_latest_run(barapi_session):
    answer = barapi_session.get("/v1/projects/latest-run", params={"view": "latest"})
    keep(answer)
    assert answer.json()["owner"]["is_staff"] is True


@pytest.mark.vcr
def test_change_password(barapi_session):
    # A careless test: the run's own password, in the body and a header it sends.
    old = os.environ.get("BARAPI_PASSWORD", "whatever a replay sends")
    auth = f"alice@example.test:{old}"
    answer = barapi_session.post(
        "/v1/password",
        json={"old_password": old, "new_password": "n3w-Pass-word", "auth": auth},
        headers={"X-Auth": auth},
    )
    keep(answer)
    assert answer.json()["changed"] is True
"""


def interactions(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["interactions"]


# Words of the server's answers, its headers and status ("OK", "close"), a JSON literal and a
# number, words a cassette is full of, one to four characters; words of the token cassette's
# own structure (its method, expires_in, a key).
PASSWORDS = [
    *("test", "staff", "first", "OK", "close", "true", "1234", "Bearer", "is"),
    *("password!", "q", "zq", "q!z", "Koa7", "1", "POST", "3600", "scope"),
]


@pytest.mark.parametrize("password", PASSWORDS)
def test_any_password_records_and_replays_what_the_server_sent(
    password: str,
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    barapi_server.users[reference_server.USER] = password
    barapi_server.clients[reference_server.CLIENT_ID] = CLIENT_SECRET
    barapi_server.jwt_tokens = True  # the access token shares its header with UNRELATED_JWT
    monkeypatch.setenv("BARAPI_PASSWORD", password)
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", CLIENT_SECRET)
    pytester.makeini(f"[pytest]\nbarapi_url = {barapi_server.url}\nbarapi_cassette = {CASSETTE}\n")
    pytester.makepyfile(test_project=CAREFUL_USERS_TESTS)

    pytester.runpytest("--record-mode=once").assert_outcomes(passed=2)

    sent = "".join(f"{answer}\n" for answer in barapi_server.sent)
    assert (pytester.path / "answers.txt").read_text() == sent
    latest, change = (
        interactions(pytester.path / "cassettes/test_project" / f"{name}.yaml")[0]
        for name in ("test_the_latest_run", "test_change_password")
    )
    assert latest["request"]["uri"] == f"{barapi_server.url}/v1/projects/latest-run?view=latest"
    assert latest["request"]["headers"]["Authorization"] == ["Bearer placeholder-access-token"]
    assert latest["response"]["body"]["string"] == barapi_server.sent[0]
    # The password where it stands as a whole value, after a colon too: the secret replaced,
    # nothing around it.
    placed_auth = "alice@example.test:placeholder-password"
    assert change["request"]["body"] == (
        '{"old_password": "placeholder-password", "new_password": "n3w-Pass-word", '
        f'"auth": "{placed_auth}"}}'
    )
    assert change["request"]["headers"]["X-Auth"] == [placed_auth]
    for file in pytester.path.rglob("*.yaml"):
        text = file.read_text()
        for token in barapi_server.issued_secrets():
            assert token not in text
        assert CLIENT_SECRET not in text
        if password in ("Koa7", "password!", "q!z"):  # in no word of the data
            assert password not in text

    # In CI: no credentials, no network, no barapi.
    (pytester.path / "answers.txt").unlink()
    go_offline(monkeypatch, httpserver)
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=2)
    assert (pytester.path / "answers.txt").read_text() == sent


def cassette(request: dict, response_body: str | bytes) -> dict:
    return {
        "interactions": [
            {
                "request": {"method": "GET", "headers": {}, "body": None, **request},
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"Content-Type": ["application/json"]},
                    "body": {"string": response_body},
                },
            }
        ],
        "version": 1,
    }


ACCESS_TOKEN = JWT_HEADER + ".eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLWFsaWNlLXRva2Vu"


@pytest.fixture
def known() -> KnownSecrets:
    known = KnownSecrets()
    known.add(ACCESS_TOKEN, kind="access_token")
    known.add_pair(reference_server.USER, "staff", kind="password")
    known.add_pair(reference_server.CLIENT_ID, CLIENT_SECRET, kind="client_secret")
    return known


def test_a_secret_is_replaced_only_where_it_stands_whole(known: KnownSecrets) -> None:
    recorded = cassette(
        {
            "uri": f"https://barapi.test/v1/staff/latest?access_token={ACCESS_TOKEN}"
            "&password=staff&is_staff=staffs",
            "headers": {
                "Authorization": [f"Bearer {ACCESS_TOKEN}"],
                "X-Password": ["staff"],
                "X-Auth": ["alice:staff"],
            },
            "body": '{"password": "staff", "note": "ask the staff", "is_staff": "staff-only", '
            '"auth": "alice:staff"}',
        },
        f'{{"is_staff": true, "other": "{UNRELATED_JWT}", "mine": "{ACCESS_TOKEN}"}}',
    )

    with_placeholders, problems = placed(recorded, known)

    assert problems == []
    (interaction,) = with_placeholders["interactions"]
    assert interaction["request"] == {
        "method": "GET",
        # A short secret glued into a path, an address or a word is theirs.
        "uri": "https://barapi.test/v1/staff/latest?"
        "access_token=placeholder-access-token&password=placeholder-password&is_staff=staffs",
        "headers": {
            "Authorization": ["Bearer placeholder-access-token"],
            "X-Password": ["placeholder-password"],
            "X-Auth": ["alice:placeholder-password"],
        },
        # A word of a sentence is the sentence's; after a colon, the masker's whole value.
        "body": '{"password": "placeholder-password", "note": "ask the staff", '
        '"is_staff": "staff-only", "auth": "alice:placeholder-password"}',
    }
    assert interaction["response"]["body"]["string"] == (
        f'{{"is_staff": true, "other": "{UNRELATED_JWT}", "mine": "placeholder-access-token"}}'
    )
    # The scan reads the result as the replacement did: nothing is left.
    assert scanned(with_placeholders, secrets_of(known)) == []


@pytest.mark.parametrize(
    ("request_", "response_body", "problem"),
    [
        (
            {"uri": "https://barapi.test/v1"},
            b"\xff\xd8 password=staff",
            "the password in interaction 1, response body (not text)",
        ),
        (
            {"uri": "https://barapi.test/v1"},
            f'{{"{ACCESS_TOKEN}": 1}}',
            "the access token in interaction 1, response body (a name)",
        ),
        (
            {"uri": "https://barapi.test/v1", "headers": {CLIENT_SECRET: ["x"]}},
            "{}",
            # Named by where it is, never by the name that holds it.
            "the client secret in interaction 1, request header (a name)",
        ),
    ],
)
def test_a_secret_that_cannot_be_replaced_is_named_with_where_it_is(
    known: KnownSecrets, request_: dict, response_body: str | bytes, problem: str
) -> None:
    assert placed(cassette(request_, response_body), known)[1] == [problem]


@pytest.mark.parametrize(
    ("password", "body"),
    [("1234", '{"pin":1234}'), ("1234", '{"pin": 1234}'), ("true", '{"is_staff": true}')],
)
def test_a_json_number_or_literal_is_data_not_a_password(password: str, body: str) -> None:
    # A password is a JSON string: a number or true, however it is spaced, is the data's.
    known = KnownSecrets()
    known.add_pair(reference_server.USER, password, kind="password")
    recorded = cassette({"uri": "https://barapi.test:1234/v1"}, body)

    assert placed(recorded, known) == (recorded, [])


@pytest.mark.parametrize(
    ("password", "headers"),
    [
        ("OK", {}),
        ("close", {"Connection": ["close"]}),
        ("1234", {"Content-Length": ["1234"]}),
        ("GMT", {"Date": ["Mon, 07 Dec 2026 00:23:14 GMT"]}),
    ],
)
def test_a_value_http_defines_is_never_a_short_password(password: str, headers: dict) -> None:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, password, kind="password")
    recorded = cassette({"uri": "https://barapi.test/v1"}, "{}")
    recorded["interactions"][0]["response"]["headers"].update(headers)

    assert placed(recorded, known) == (recorded, [])


@pytest.mark.parametrize(
    ("password", "request_", "response_body", "where"),
    [
        (
            "Koala-77x",
            {"uri": "https://barapi.test/v1/check/Koala-77x/now"},
            "{}",
            "request URI",
        ),
        (
            "Werkzeug",
            {"uri": "https://barapi.test/v1", "headers": {"Server": ["Werkzeug/3.1.3"]}},
            "{}",
            "request header Server",
        ),
        ("application", {"uri": "https://barapi.test/v1"}, "{}", "response header Content-Type"),
        (
            "password",
            {"uri": "https://barapi.test/v1"},
            '{"note": "change your password here"}',
            "response body, field note",
        ),
    ],
)
def test_a_secret_of_8_to_11_characters_inside_a_word_or_sentence_is_refused_not_kept(
    password: str, request_: dict, response_body: str, where: str
) -> None:
    # The masker masks a secret of 8 to 11 characters wherever it shows, inside a word too:
    # a cassette may not keep it there, and replacing it would change what is around it.
    known = KnownSecrets()
    known.add_pair(reference_server.USER, password, kind="password")
    recorded = cassette(request_, response_body)

    with_placeholders, problems = placed(recorded, known)

    assert problems == [f"the password in interaction 1, {where}"]
    assert with_placeholders == recorded


def test_a_weak_password_that_is_a_word_of_the_placeholders_is_still_recorded() -> None:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "password", kind="password")
    recorded = cassette(
        {"uri": "https://barapi.test/v1/me", "body": '{"new_password": "password"}'},
        '{"ok": true}',
    )

    with_placeholders, problems = placed(recorded, known)

    assert problems == []
    assert with_placeholders["interactions"][0]["request"]["body"] == (
        '{"new_password": "placeholder-password"}'
    )


WORDS = st.text(alphabet="abcdefgtsq_-./@", min_size=1, max_size=12)
SENTENCES = st.text(alphabet="abcdefgtsq_-./@ ", min_size=1, max_size=24)


@given(
    # Characters URL-encoding keeps: "!" as "%21" makes "aa!!" a form of 8 characters in
    # the query, which the masker masks inside a word too (refused, as tested above).
    password=st.text(alphabet="abcdefgtsq_", min_size=1, max_size=4),
    data=st.dictionaries(WORDS, st.lists(st.one_of(WORDS, SENTENCES), max_size=4), max_size=4),
)
@settings(max_examples=200, deadline=None)
def test_only_a_json_string_that_is_the_password_changes(
    password: str, data: dict[str, list[str]]
) -> None:
    """A short password inside a key or a word, as a word of a sentence, in the query that
    carries the data: kept, byte for byte. A JSON string that is the password, under a name
    that says it is one, is the case the guard replaces."""
    assume(not any(password in values for values in data.values()))  # refused: tested below
    assume(password not in data)  # a key that is the password: refused, tested below
    known = KnownSecrets()
    known.add_pair(reference_server.USER, password, kind="password")
    # The password inside a key, a word of a sentence, inside a word, and a JSON string.
    data = {
        **data,
        f"{password}x": [f"see {password} here", f"{password}x{password}"],
        "new_passwords": [password],
    }
    body = json.dumps(data)
    recorded = cassette({"uri": "https://barapi.test/v1/data?view=" + quote_plus(body)}, body)

    with_placeholders, problems = placed(recorded, known)

    expected = {
        key: ["placeholder-password" if value == password else value for value in values]
        for key, values in data.items()
    }
    assert problems == []
    (interaction,) = with_placeholders["interactions"]
    assert interaction["request"] == recorded["interactions"][0]["request"]
    assert interaction["response"]["body"]["string"] == json.dumps(expected)


def test_whatever_shape_a_cassette_has_is_read_whole_and_kept(known: KnownSecrets) -> None:
    """vcrpy's own fields, a hook's odd values, a body that only looks like JSON: read for
    secrets like the rest, and kept as they are where they hold none."""
    odd = {
        "interactions": [
            {
                "request": {
                    "uri": "https://barapi.test/v1",
                    "headers": {"X-Count": [3], "X-Single": "one"},
                    "body": b"\x00\x01",
                    "extra": {"note": ["kept"]},
                },
                "response": {"body": {"string": "{not json, staff"}, "headers": {}},
                "recorded_at": "2026-12-06",
            },
            "not an interaction",
        ],
        "version": 1,
    }

    with_placeholders, problems = placed(odd, known)

    assert problems == []
    (interaction, text) = with_placeholders["interactions"]
    assert text == "not an interaction"
    assert interaction["request"]["body"] == b"\x00\x01"
    assert interaction["request"]["headers"] == {"X-Count": [3], "X-Single": "one"}
    assert interaction["response"]["body"]["string"] == "{not json, staff"
    assert placed(["not", "a", "cassette", ACCESS_TOKEN], known)[0] == [
        "not",
        "a",
        "cassette",
        "placeholder-access-token",
    ]


def test_a_password_of_8_to_11_characters_that_is_a_word_of_the_answers_is_refused(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference server says ``Server: Werkzeug/...``: the masker masks a password of 8
    to 11 characters there, and a placeholder would change the header. Pick test passwords
    that are not words of your API's data."""
    barapi_server.users[reference_server.USER] = "Werkzeug"
    monkeypatch.setenv("BARAPI_PASSWORD", "Werkzeug")
    pytester.makeini(f"[pytest]\nbarapi_url = {barapi_server.url}\n")
    pytester.makepyfile(test_project=CAREFUL_USERS_TESTS)

    result = pytester.runpytest("--record-mode=once", "-k", "latest")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "barapi: refusing to keep the cassette cassettes/test_project/test_the_latest_run.yaml:"
            " it holds the password in interaction 1, response header Server, where no "
            "placeholder can take its place without changing what is around it; it was not "
            "written. Keep that secret out of what the test sends and receives there. It had no "
            "cassette before."
        ]
    )
    assert not (pytester.path / "cassettes" / "test_project").exists()


# A long password with a character latin-1 and UTF-8 write differently, and one XML escapes.
ODD_PASSWORD = "Passwört&fake-Lq8vT3"


def odd_known() -> KnownSecrets:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, ODD_PASSWORD, kind="password")
    return known


@pytest.mark.parametrize(
    ("request_", "response_body"),
    [
        ({"uri": "https://barapi.test/v1/me?legacy_pw=Passw%F6rt%26fake-Lq8vT3"}, "{}"),
        ({"uri": "https://barapi.test/v1"}, "<pw>Passwört&amp;fake-Lq8vT3</pw>"),
        ({"uri": "https://barapi.test/v1"}, "echo: 'Passw\\xf6rt&fake-Lq8vT3'"),
        ({"uri": "https://barapi.test/v1"}, json.dumps(json.dumps(json.dumps(ODD_PASSWORD)))),
        ({"uri": "https://barapi.test/v1"}, "<pw>Passw&#246;rt&#38;fake-Lq8vT3</pw>"),
        ({"uri": "https://barapi.test/v1"}, 'sent "Passw\\u00F6rt&fake-Lq8vT3" back'),
    ],
    ids=[
        "latin-1-url-encoded",
        "xml-escaped",
        "latin-1-repr",
        "json-3-levels",
        "xml-references",
        "json-upper-hex",
    ],
)
def test_a_long_secret_in_any_form_the_masker_knows_is_replaced(
    request_: dict, response_body: str
) -> None:
    recorded, problems = placed(cassette(request_, response_body), odd_known())

    assert problems == []
    assert "placeholder-password" in json.dumps(recorded)
    assert not odd_known().masker().reveals(json.dumps(recorded, ensure_ascii=False))


def test_a_slash_escaped_as_json_may_escape_it_is_still_the_secret() -> None:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "Koala/7-long-pw", kind="password")
    recorded, problems = placed(
        cassette({"uri": "https://barapi.test/v1"}, "sent Koala\\/7-long-pw back"), known
    )

    assert problems == []
    assert recorded["interactions"][0]["response"]["body"]["string"] == (
        "sent placeholder-password back"
    )


def test_a_secret_in_a_latin_1_body_is_refused_not_kept() -> None:
    """Bytes get no placeholder: a body that holds a secret once read as latin-1 is refused."""
    recorded = cassette({"uri": "https://barapi.test/v1"}, f"pw={ODD_PASSWORD}".encode("latin-1"))

    assert placed(recorded, odd_known())[1] == [
        "the password in interaction 1, response body (not text)"
    ]


NDJSON = '{"user": "alice", "role": "staff"}\n{"user": "bob", "role": "test"}\n'


def test_json_lines_keep_their_keys_whatever_the_password(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An NDJSON export is read line by line as JSON: a key is a name, and a short password
    inside one (``ro`` in ``role``) is the key's."""
    barapi_server.users[reference_server.USER] = "ro"
    monkeypatch.setenv("BARAPI_PASSWORD", "ro")
    httpserver.expect_request("/v1/export").respond_with_data(
        NDJSON, content_type="application/x-ndjson"
    )
    pytester.makeini(f"[pytest]\nbarapi_url = {barapi_server.url}\nbarapi_cassette = {CASSETTE}\n")
    pytester.makepyfile(
        test_export="""
        import json
        import pytest

        @pytest.mark.vcr
        def test_export(barapi_session):
            answer = barapi_session.get("/v1/export")
            with open("answers.txt", "a") as file:
                file.write(answer.text)
            assert [json.loads(line)["user"] for line in answer.text.splitlines()] == [
                "alice",
                "bob",
            ]
        """
    )

    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)

    (export,) = interactions(pytester.path / "cassettes/test_export/test_export.yaml")
    assert export["response"]["body"]["string"] == NDJSON
    (pytester.path / "answers.txt").unlink()
    go_offline(monkeypatch, httpserver)
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=1)
    assert (pytester.path / "answers.txt").read_text() == NDJSON


def test_a_credential_in_json_lines_is_replaced_and_nothing_else() -> None:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "Koa7", kind="password")
    lines = '{"user": "alice", "password": "Koa7"}\n{"Koa7s": 1, "note": "see Koa7"}\n'

    with_placeholders, problems = placed(cassette({"uri": "https://barapi.test/v1"}, lines), known)

    assert problems == []
    assert with_placeholders["interactions"][0]["response"]["body"]["string"] == (
        '{"user": "alice", "password": "placeholder-password"}\n{"Koa7s": 1, "note": "see Koa7"}\n'
    )


@pytest.mark.parametrize(
    ("request_", "response_body", "where"),
    [
        (
            {"uri": "https://barapi.test/v1/runs?view=latest"},
            "{}",
            "interaction 1, request URI, field view",
        ),
        (
            {"uri": "https://barapi.test/v1"},
            '{"runs": [{"view": "latest"}]}',
            "interaction 1, response body, field view",
        ),
        (
            {"uri": "https://barapi.test/v1"},
            '{"views": ["latest", "oldest"]}',
            "interaction 1, response body, field views",
        ),
        (
            {"uri": "https://barapi.test/v1", "headers": {"X-View": ["latest"]}},
            "{}",
            "interaction 1, request header X-View",
        ),
        (
            {"uri": "https://barapi.test/v1"},
            "view: latest\n",
            "interaction 1, response body",
        ),
        (
            # A name about a credential, not one: its value is the API's.
            {"uri": "https://barapi.test/v1"},
            '{"token_type": "latest"}',
            "interaction 1, response body, field token_type",
        ),
    ],
    ids=["query", "json", "json-array", "header", "text", "about-a-credential"],
)
def test_a_short_secret_that_may_be_the_apis_data_is_refused_not_rewritten(
    request_: dict, response_body: str, where: str
) -> None:
    """``latest`` is the password, and a value of the API: nothing there says it is a
    credential, so it is neither replaced (the replay would differ) nor kept."""
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "latest", kind="password")
    recorded = cassette(request_, response_body)

    with_placeholders, problems = placed(recorded, known)

    assert problems == [f"the password as a value in {where}"]
    assert with_placeholders == recorded


@pytest.mark.parametrize(
    ("request_", "response_body", "replaced"),
    [
        (
            {"uri": "https://barapi.test/v1/login?password=latest"},
            "{}",
            "https://barapi.test/v1/login?password=placeholder-password",
        ),
        (
            {"uri": "https://barapi.test/v1", "headers": {"Authorization": ["Basic latest"]}},
            "{}",
            "Basic placeholder-password",
        ),
        (
            {"uri": "https://barapi.test/v1", "body": '{"old_password": "latest"}'},
            "{}",
            '{"old_password": "placeholder-password"}',
        ),
        (
            {"uri": "https://barapi.test/v1", "body": "user=alice&pwd=latest"},
            "{}",
            "user=alice&pwd=placeholder-password",
        ),
        (
            {"uri": "https://barapi.test/v1", "body": "login with password=latest"},
            "{}",
            "login with password=placeholder-password",
        ),
    ],
    ids=["query", "authorization", "json", "form", "text"],
)
def test_a_short_secret_where_the_structure_says_credential_is_replaced(
    request_: dict, response_body: str, replaced: str
) -> None:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "latest", kind="password")

    with_placeholders, problems = placed(cassette(request_, response_body), known)

    assert problems == []
    request = with_placeholders["interactions"][0]["request"]
    assert replaced in [
        request["uri"],
        request["body"],
        *request["headers"].get("Authorization", []),
    ]


def test_a_password_that_is_the_user_name_is_refused_where_the_user_name_shows() -> None:
    """A long password is replaced wherever it stands, unless a setting the API shows as it
    is (the user name) is the same text: there it may be the user name."""
    known = KnownSecrets()
    known.add_pair(reference_server.USER, reference_server.USER, kind="password")
    recorded = cassette(
        {"uri": "https://barapi.test/v1", "body": f'{{"password": "{reference_server.USER}"}}'},
        f'{{"user": "{reference_server.USER}"}}',
    )

    with_placeholders, problems = placed(recorded, known)

    assert problems == [
        "the password (the same text as the user name) as a value in interaction 1, "
        "response body, field user"
    ]
    # Where a name says it is the password, it is.
    assert with_placeholders["interactions"][0]["request"]["body"] == (
        '{"password": "placeholder-password"}'
    )


@pytest.mark.parametrize(
    ("password", "what"),
    [
        ("latest", "the password as a value in interaction 1, request URI, field view"),
        (
            reference_server.USER,
            "the password (the same text as the user name) as a value in interaction 1, "
            "response body, field user",
        ),
    ],
    ids=["a-value-of-the-query", "the-user-name"],
)
def test_a_password_that_is_a_value_of_the_api_refuses_the_recording_and_says_what_to_do(
    password: str,
    what: str,
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The password ``latest`` and the query ``?view=latest``, or a password that is the user
    name the answer shows: recording that test is refused with what to change, and the
    cassette it had is kept as it was."""
    barapi_server.users[reference_server.USER] = password
    monkeypatch.setenv("BARAPI_PASSWORD", password)
    pytester.makeini(f"[pytest]\nbarapi_url = {barapi_server.url}\nbarapi_cassette = {CASSETTE}\n")
    pytester.makepyfile(test_project=CAREFUL_USERS_TESTS)
    committed = pytester.path / "cassettes/test_project/test_the_latest_run.yaml"
    committed.parent.mkdir(parents=True)
    committed.write_text("a cassette committed before\n")

    result = pytester.runpytest("--record-mode=rewrite", "-k", "latest")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "barapi: refusing to keep the cassette cassettes/test_project/test_the_latest_run.yaml:"
            f" it holds {what}, where nothing says it is a credential: it may be the API's own "
            "data, which barapi does not rewrite; it was not written. Record with a test "
            "password that is not a value of the API's data, or keep that secret out of what "
            "the test sends and receives there. The cassette it had before is back as it was."
        ]
    )
    assert committed.read_text() == "a cassette committed before\n"


@pytest.mark.parametrize(
    "name", ["secretary", "tokenizer", "passwordless", "passwords_policy", "author"]
)
def test_a_name_that_only_holds_a_credential_word_says_nothing_of_its_value(name: str) -> None:
    """A credential's name is a word of the name, never a piece of one: the password
    ``admin`` as ``{"secretary": "admin"}`` may be the API's data, so the recording is
    refused rather than rewritten."""
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "admin", kind="password")
    recorded = cassette({"uri": "https://barapi.test/v1"}, f'{{"office": "HQ", "{name}": "admin"}}')

    with_placeholders, problems = placed(recorded, known)

    assert problems == [f"the password as a value in interaction 1, response body, field {name}"]
    assert with_placeholders == recorded


@pytest.mark.parametrize(
    "name",
    [
        "old_password",
        "newPassword",
        "passwords",
        "client_secret",
        "access_token",
        "auth_token",
        "X-Api-Key",
        "apiKey",
        "apikey",
        "pwd",
        "passwd",
        "user.pass",
    ],
)
def test_each_word_of_a_name_may_say_its_value_is_a_credential(name: str) -> None:
    """Words split at ``_``, ``-``, ``.`` and where the case changes: the password under
    any of these names is replaced."""
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "admin", kind="password")
    recorded = cassette({"uri": "https://barapi.test/v1"}, f'{{"{name}": "admin"}}')

    with_placeholders, problems = placed(recorded, known)

    assert problems == []
    body = with_placeholders["interactions"][0]["response"]["body"]["string"]
    assert body == f'{{"{name}": "placeholder-password"}}'


def test_a_value_given_to_barapi_mask_is_replaced_wherever_it_stands_whole() -> None:
    """A one-time code the API answered, given to ``barapi_mask``: the user says it is a
    secret, so it is no ambiguous value of the data; a cassette says ``********`` there."""
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "a-long-password-Xy", kind="password")
    known.add("483920", kind=MASKED)
    recorded = cassette(
        {"uri": "https://barapi.test/v1/data"}, '{"first": "first", "cs": "483920", "n": 1}'
    )

    with_placeholders, problems = placed(recorded, known)

    assert problems == []
    body = with_placeholders["interactions"][0]["response"]["body"]["string"]
    assert body == '{"first": "first", "cs": "********", "n": 1}'


def test_a_value_given_to_barapi_mask_inside_a_word_is_named_as_barapi_mask() -> None:
    known = KnownSecrets()
    known.add("code48392", kind=MASKED)
    recorded = cassette({"uri": "https://barapi.test/v1/data"}, '{"cs": "xcode48392x"}')

    _, problems = placed(recorded, known)

    assert problems == ["the value given to barapi_mask in interaction 1, response body, field cs"]


def test_a_short_code_the_api_answered_and_the_test_masked_is_recorded_masked(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """A one-time code of 6 digits the API answers, given to ``barapi_mask``: the user says it
    is a secret, so the recording keeps ``********`` in its place rather than refuse it."""
    barapi_server.httpserver.expect_request("/v1/data").respond_with_json(
        {"first": "first", "cs": "483920"}
    )
    pytester.makeini(f"[pytest]\nbarapi_url = {barapi_server.url}\nbarapi_cassette = {CASSETTE}\n")
    pytester.makepyfile(
        test_otp="""
        import pytest

        @pytest.mark.vcr
        def test_otp(barapi_session, barapi_mask):
            code = barapi_session.get("/v1/data").json()["cs"]
            barapi_mask(code)
            assert len(code) == 6
        """
    )

    result = pytester.runpytest("--record-mode=once")

    result.assert_outcomes(passed=1)
    recorded = (pytester.path / "cassettes/test_otp/test_otp.yaml").read_text()
    (interaction,) = yaml.safe_load(recorded)["interactions"]
    assert json.loads(interaction["response"]["body"]["string"]) == {
        "first": "first",
        "cs": "********",
    }
    assert "483920" not in recorded


@pytest.mark.parametrize(
    ("request_", "response_body", "where"),
    [
        ({"uri": "https://barapi.test/v1"}, '{"tried": {"Koa7": "weak"}}', "response body"),
        (
            {
                "uri": "https://barapi.test/v1",
                "headers": {"Content-Type": ["application/x-www-form-urlencoded"]},
                "body": "Koa7=1",
            },
            "{}",
            "request body",
        ),
        ({"uri": "https://barapi.test/v1?Koa7=1"}, "{}", "request URI"),
        ({"uri": "https://barapi.test/v1", "headers": {"X-Koa7": ["1"]}}, "{}", "request header"),
        ({"uri": "https://barapi.test/v1", "headers": {"Koa7": ["1"]}}, "{}", "request header"),
    ],
    ids=["json-key", "form-field", "query-field", "x-header", "header"],
)
def test_a_short_password_that_is_a_whole_name_is_refused_never_renamed(
    request_: dict, response_body: str, where: str
) -> None:
    """A name is never rewritten (the replay would give the test another key), and a secret
    is never written in clear: where the password is a whole name, the recording is
    refused."""
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "Koa7", kind="password")
    recorded = cassette(request_, response_body)

    with_placeholders, problems = placed(recorded, known)

    assert problems == [f"the password in interaction 1, {where} (a name)"]
    assert with_placeholders == recorded


def test_a_short_password_inside_a_name_or_that_is_a_header_http_defines_is_the_names() -> None:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "Date", kind="password")
    recorded = cassette(
        {"uri": "https://barapi.test/v1?Dates=1", "headers": {"Date": ["x"], "X-Dated": ["1"]}},
        '{"is_Date": true, "Date-x": 1}',
    )

    with_placeholders, problems = placed(recorded, known)

    assert problems == []
    assert with_placeholders == recorded
