"""How a recording keeps every byte that is not a secret, whatever the password.

barapi's secrets are replaced by structure, not by substring: where a secret stands as a whole
value (a header, the token after ``Bearer``, a query or form field, a JSON string that is the
secret, a whole word of text), never inside a longer word (``test`` in ``latest``, ``staff`` in
``is_staff``) nor where a piece of it matches (two JWTs share their header). Each case here
records against the reference server with credentials, replays offline with none, and compares
what the replayed test received with what the server sent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from pytest_barapi.cassette_guard import placed, scanned, secrets_of
from pytest_barapi.known_secrets import KnownSecrets
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
    # A careless test: the run's own password, in the body it sends.
    old = os.environ.get("BARAPI_PASSWORD", "whatever a replay sends")
    answer = barapi_session.post("/v1/password", json={"old": old, "new": "n3w-Pass-word"})
    keep(answer)
    assert answer.json()["changed"] is True
"""


def interactions(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["interactions"]


@pytest.mark.parametrize(
    "password", ["test", "staff", "password!", "q", "zq", "q!z", "Koa7", "Bearer", "is"]
)
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
    assert change["request"]["body"] == ('{"old": "placeholder-password", "new": "n3w-Pass-word"}')
    for file in pytester.path.rglob("*.yaml"):
        text = file.read_text()
        for token in barapi_server.issued_secrets():
            assert token not in text
        assert CLIENT_SECRET not in text

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
            "headers": {"Authorization": [f"Bearer {ACCESS_TOKEN}"], "X-Password": ["staff"]},
            "body": '{"password": "staff", "note": "ask the staff", "is_staff": "staff-only"}',
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
        },
        "body": '{"password": "placeholder-password", "note": "ask the placeholder-password", '
        '"is_staff": "staff-only"}',
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
            b"\xff\xd8 staff",
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
            f"the client secret in interaction 1, request header {CLIENT_SECRET} (a name)",
        ),
    ],
)
def test_a_secret_that_cannot_be_replaced_is_named_with_where_it_is(
    known: KnownSecrets, request_: dict, response_body: str | bytes, problem: str
) -> None:
    assert placed(cassette(request_, response_body), known)[1] == [problem]


def test_a_short_secret_in_a_json_number_is_refused() -> None:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "1234", kind="password")

    _, problems = placed(cassette({"uri": "https://barapi.test/v1"}, '{"pin": 1234}'), known)

    assert problems == ["the password in interaction 1, response body"]


def test_a_secret_of_8_characters_or_more_inside_a_word_is_refused_not_kept() -> None:
    # The masker masks a secret of 8 to 11 characters wherever it shows, inside a word too:
    # a cassette may not keep it there, and replacing it would change the word around it.
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "Koala-77x", kind="password")
    recorded = cassette({"uri": "https://barapi.test/v1/check/Koala-77x/now"}, "{}")

    with_placeholders, problems = placed(recorded, known)

    assert problems == ["the password in interaction 1, request URI"]
    assert with_placeholders["interactions"][0]["request"]["uri"] == (
        "https://barapi.test/v1/check/Koala-77x/now"
    )


def test_a_weak_password_that_is_a_word_of_the_placeholders_is_still_recorded() -> None:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, "password", kind="password")
    recorded = cassette(
        {"uri": "https://barapi.test/v1/me", "body": '{"new": "password"}'}, '{"ok": true}'
    )

    with_placeholders, problems = placed(recorded, known)

    assert problems == []
    assert with_placeholders["interactions"][0]["request"]["body"] == (
        '{"new": "placeholder-password"}'
    )


WORDS = st.text(alphabet="abcdefgtsq_-./@", min_size=1, max_size=12)


@given(
    password=st.text(alphabet="abcdefgtsq!", min_size=1, max_size=4),
    data=st.dictionaries(WORDS, st.lists(WORDS, max_size=4), max_size=4),
)
@settings(max_examples=200, deadline=None)
def test_data_that_does_not_hold_the_password_as_a_word_is_kept_byte_for_byte(
    password: str, data: dict[str, list[str]]
) -> None:
    known = KnownSecrets()
    known.add_pair(reference_server.USER, password, kind="password")
    body = json.dumps(data)
    # A word of the data equal to the password is the case the guard replaces.
    assume(password not in re.split(r"[\s\"'()\[\]{},;=&]+", body))
    recorded = cassette({"uri": "https://barapi.test/v1/data?view=" + quote_plus(body)}, body)

    with_placeholders, problems = placed(recorded, known)

    assert problems == []
    assert with_placeholders == recorded


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
    assert interaction["response"]["body"]["string"] == "{not json, placeholder-password"
    assert placed(["not", "a", "cassette", ACCESS_TOKEN], known)[0] == [
        "not",
        "a",
        "cassette",
        "placeholder-access-token",
    ]
