"""What a token cassette may hold: the scrub of the recorded answer, and the scan of the file.

Fast, in this process: ``CassetteScan`` is given the cassettes a recording would write (the
committed example cassette, then with a secret put back somewhere) and says what it finds.
``test_howto_keep_secrets_out_of_cassettes.py`` shows a finding failing a user's run and the
file being deleted.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import yaml

from pytest_barapi.cassette_guard import without_vocabulary as _without_vocabulary
from pytest_barapi.identity import Identity
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.secrets import Secret
from pytest_barapi.token_cassette import CassetteScan
from tests import reference_server

EXAMPLE = Path(__file__).parent.parent / "examples" / "cassettes" / "barapi_token.yaml"
PASSWORD = "p@ss w0rd&=/+%~"
CLIENT_SECRET = "s3cr3t/+&= ~client"
IDENTITY = Identity(
    user=reference_server.USER,
    password=Secret(PASSWORD),
    client_id=reference_server.CLIENT_ID,
    client_secret=Secret(CLIENT_SECRET),
)


def new_scan(identity: Identity = IDENTITY) -> CassetteScan:
    """The scan of a recording run that knows ``identity``'s secrets (``BarapiRun.know``)."""
    known = KnownSecrets()
    for name, secret in identity.credential_pairs():
        known.add_pair(name, secret)
    return CassetteScan(identity, known)


def example() -> dict[str, Any]:
    """The example suite's committed token cassette: what a good recording looks like."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def finding(scan: CassetteScan, data: dict[str, Any], text: str | None = None) -> str | None:
    """What the scan finds in the file a recording of ``data`` writes (vcrpy's YAML)."""
    return scan.leak(yaml.safe_dump(data) if text is None else text, data)


def token_answer(**fields: object) -> dict[str, Any]:
    """A token answer as vcrpy hands it to ``before_record_response``."""
    body = {"access_token": "fake-access-1", "token_type": "Bearer", "expires_in": 60, **fields}
    return {
        "status": {"code": 200, "message": "OK"},
        "headers": {
            "Content-Type": ["application/json"],
            "Content-Length": ["999"],
            "Set-Cookie": ["session=fake-cookie; HttpOnly"],
            "Transfer-Encoding": ["chunked"],
        },
        "body": {"string": json.dumps(body).encode()},
    }


# The scrub of the recorded answer.


def test_the_tokens_become_placeholders_and_become_known_secrets() -> None:
    scan = new_scan()
    answer = token_answer(refresh_token="fake-refresh-1", id_token="fake-id-1", scope="read")

    scrubbed = scan.scrub_response(answer)

    assert scrubbed is not None
    body = json.loads(scrubbed["body"]["string"])
    # Only the fields a replayed token is built from: an id token is known, but not kept.
    assert body == {
        "access_token": "placeholder-access-token",
        "token_type": "Bearer",
        "expires_in": 60,
        "refresh_token": "placeholder-refresh-token",
        "scope": "read",
    }
    assert {"fake-access-1", "fake-refresh-1", "fake-id-1"} <= scan.known.values()
    assert scrubbed["status"] == answer["status"]


def test_cookies_go_and_the_length_is_the_scrubbed_bodys() -> None:
    scrubbed = new_scan().scrub_response(token_answer())
    assert scrubbed is not None
    assert scrubbed["headers"] == {
        "Content-Type": ["application/json"],
        "Content-Length": [str(len(scrubbed["body"]["string"]))],
    }


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, b"busy"),  # a retry got past it: the failure is never recorded
        (400, b'{"error": "invalid_grant"}'),
        (200, b"<html>welcome</html>"),
        (200, b'["a", "list"]'),
    ],
    ids=["5xx", "refused", "not-json", "not-an-object"],
)
def test_an_answer_that_is_not_a_token_is_not_recorded(status: int, body: bytes) -> None:
    answer = token_answer()
    answer["status"]["code"] = status
    answer["body"]["string"] = body
    assert new_scan().scrub_response(answer) is None


# The scan of the written file.


def test_the_example_cassette_holds_nothing_of_the_reference_credentials() -> None:
    reference = Identity(
        reference_server.USER,
        Secret(reference_server.PASSWORD),
        reference_server.CLIENT_ID,
        Secret(reference_server.CLIENT_SECRET),
    )
    assert finding(new_scan(reference), example()) is None


def with_response_header(name: str, value: str) -> dict[str, Any]:
    data = example()
    data["interactions"][0]["response"]["headers"][name] = [value]
    return data


def with_response_body(text: str) -> dict[str, Any]:
    data = example()
    data["interactions"][0]["response"]["body"]["string"] = text
    return data


def with_request_body(text: str) -> dict[str, Any]:
    data = example()
    data["interactions"][0]["request"]["body"] = text
    return data


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (
            with_response_header("X-Debug", f"password={PASSWORD}"),
            "the password in interaction 1, response header X-Debug",
        ),
        (
            with_response_body(json.dumps({"note": f"client_secret={quote_plus(CLIENT_SECRET)}"})),
            "the client secret in interaction 1, response body, field note",
        ),
        (
            with_request_body(f"password={quote_plus(PASSWORD)}"),
            "the password in interaction 1, request body",
        ),
        (
            with_response_header(PASSWORD, "a header named so"),
            "the password in interaction 1, response header (a name)",
        ),
    ],
    ids=["raw-in-a-header", "url-encoded-in-the-body", "in-the-request", "as-a-key"],
)
def test_a_credential_anywhere_is_found_and_named(data: dict[str, Any], found: str) -> None:
    assert finding(new_scan(), data) == found


def test_a_token_of_the_answer_is_found_and_named() -> None:
    scan = new_scan()
    scan.scrub_response(token_answer(refresh_token="fake-refresh-1"))

    assert finding(scan, with_response_header("X-Token", "fake-access-1")) == (
        "the access token in interaction 1, response header X-Token"
    )
    assert finding(scan, with_response_header("X-Next", "fake-refresh-1")) == (
        "the refresh token in interaction 1, response header X-Next"
    )


def test_another_secret_of_the_run_is_found_without_a_name() -> None:
    scan = new_scan()
    scan.known.add("fake-token-of-another-identity")
    assert finding(scan, with_response_header("X-Other", "fake-token-of-another-identity")) == (
        "a secret of the run in interaction 1, response header X-Other"
    )


def test_a_secret_only_in_the_files_text_is_found_too() -> None:
    data = example()
    text = yaml.safe_dump(data) + f"# recorded with {PASSWORD}\n"  # a comment: no parsed string
    assert finding(new_scan(), data, text) == "the password in the file"


def test_the_user_and_client_id_are_looked_for_in_the_requests_only() -> None:
    scan = new_scan()
    user = quote_plus(reference_server.USER)
    assert finding(scan, with_request_body(f"username={user}")) == ("the user name at request/body")
    data = example()
    data["interactions"][0]["request"]["headers"]["X-Client"] = [reference_server.CLIENT_ID]
    assert finding(scan, data) == "the client id at request/headers/X-Client"
    # Elsewhere they may rightly appear (a user named "barapi" in the host name).
    both = f"{reference_server.USER} {reference_server.CLIENT_ID}"
    assert finding(scan, with_response_body(both)) is None


def test_a_password_that_is_a_protocol_word_is_not_a_finding_where_it_is_that_word() -> None:
    scan = new_scan(Identity(reference_server.USER, Secret("password"), "client", None))
    assert finding(scan, example()) is None
    # Read as an API cassette is: a short secret glued into a longer word is that word's;
    # standing as a value of its own it is the password.
    scan = new_scan(Identity(reference_server.USER, Secret("hunter"), "client", None))
    assert finding(scan, with_response_header("X-Echo", "my-hunter")) is None
    assert finding(scan, with_response_header("X-Echo", "hunter")) == (
        "the password as a value in interaction 1, response header X-Echo"
    )


@pytest.mark.parametrize(
    "password",
    ["1", "POST", "200", "3600", "user", "code", "uri", "status", "message", "oauth", "json"],
)
def test_a_short_password_that_is_a_word_of_the_files_structure_is_not_a_finding(
    password: str,
) -> None:
    """The method, the status, expires_in, the keys vcrpy and barapi write: what a short
    password equal to one of them is, there, is that word."""
    scan = new_scan(Identity(reference_server.USER, Secret(password), "client", None))
    data = example()
    data["barapi_recorded_for"] = {"user": "0123456789", "client_id": "abcdef0123"}
    assert finding(scan, data) is None


@pytest.mark.parametrize("password", ["application", "localhost"])
def test_a_password_glued_into_a_word_barapi_writes_there_is_not_a_finding(password: str) -> None:
    """The token cassette is barapi's, written from placeholders and the protocol's words: a
    password of 8 to 11 characters inside one (its URL's host, its Content-Type) is that word."""
    scan = new_scan(Identity(reference_server.USER, Secret(password), "client", None))
    data = example()
    data["interactions"][0]["request"]["uri"] = "http://localhost:8000/oauth/token"
    data["interactions"][0]["response"]["headers"]["Content-Type"] = ["application/json"]
    assert finding(scan, data) is None


@pytest.mark.parametrize(
    ("text", "left"),
    [
        ("password=placeholder-password", "\0=\0"),
        ('{"access_token": "placeholder-access-token"}', '{"\0": "\0"}'),
        ("grant_type=password&scope=", "\0=\0&\0="),
        ("my-password", "my-password"),
        ("passwords", "passwords"),
        ("password2", "password2"),
    ],
)
def test_vocabulary_words_are_set_aside_only_where_they_stand_alone(text: str, left: str) -> None:
    assert _without_vocabulary(text) == left


def test_the_scan_does_not_change_what_it_reads() -> None:
    data = with_response_header("X-Debug", PASSWORD)
    before = copy.deepcopy(data)
    finding(new_scan(), data)
    assert data == before


def test_a_password_that_shares_a_piece_with_the_url_is_no_finding() -> None:
    """The scan reads the file by its structure, as an API cassette's does: a long secret is
    looked for whole, in every form the masker knows, never by its pieces (the terminal masks
    those, where masking a bit too much costs nothing)."""
    scan = new_scan(Identity(reference_server.USER, Secret("acme-staging-pw2"), "client", None))
    data = example()
    data["interactions"][0]["request"]["uri"] = "https://barapi.test/acme-staging/oauth/token"
    assert finding(scan, data) is None
    data["interactions"][0]["request"]["uri"] = "https://barapi.test/acme-staging-pw2/oauth/token"
    assert finding(scan, data) == "the password in interaction 1, request URI"
