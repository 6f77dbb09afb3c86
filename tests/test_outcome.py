"""An outcome (a token, or why there is none) survives the trip to another pytest-xdist worker.

Fast, in this process: ``to_json`` / ``from_json`` round trips through real JSON text, as
``sharing`` writes and reads them. ``test_howto_share_across_workers.py`` shows workers sharing
both kinds.
"""

from __future__ import annotations

import json

import pytest

from pytest_barapi import outcome
from pytest_barapi.outcome import Failure, Outcome, Received, Setting
from pytest_barapi.token import BarapiToken


def through_json(value: Outcome) -> Outcome:
    return outcome.from_json(json.loads(json.dumps(outcome.to_json(value))))


@pytest.mark.parametrize(
    "value",
    [
        BarapiToken(
            access_token="fake-access",
            token_type="Bearer",
            expires_in=3600,
            refresh_token="fake-refresh",
            scope="read write",
            obtained_at=1_700_000_000.25,
        ),
        BarapiToken("fake-access", "bearer", None, obtained_at=1_700_000_000.0),
        BarapiToken("placeholder-access-token", "Bearer", 60, replayed=True),
        Failure("the token endpoint refused the grant: invalid_grant, HTTP 400", refused=True),
        Failure("connection refused for http://127.0.0.1:1/oauth/token"),
    ],
    ids=["token", "token-without-optional-fields", "replayed-token", "refusal", "failure"],
)
def test_an_outcome_comes_back_equal(value: Outcome) -> None:
    back = through_json(value)
    assert back == value
    assert type(back) is type(value)


def test_a_token_keeps_its_expiry() -> None:
    token = BarapiToken("fake-access", "Bearer", 60, obtained_at=1_700_000_000.5)
    back = through_json(token)
    assert isinstance(back, BarapiToken)
    assert back.expires_at == token.expires_at


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "KeyError"),
        ({"token": None}, "TypeError"),
        ({"token": {"access_token": "x"}}, "TypeError"),
        (
            {"token": {"access_token": "x", "token_type": "Bearer", "expires_in": 1, "x": 1}},
            "TypeError",
        ),
    ],
    ids=["empty", "no-token", "missing-fields", "unknown-field"],
)
def test_anything_else_is_a_value_error_that_quotes_nothing(data: dict, error: str) -> None:
    # The data may hold a token: the message says only what kind of error it was.
    with pytest.raises(ValueError, match=rf"^not a barapi outcome \({error}\)$") as raised:
        outcome.from_json(data)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_a_failure_reads_as_its_message_and_can_be_put_in_context() -> None:
    refused = Failure("the token endpoint refused the grant: invalid_grant, HTTP 400", True)
    renewing = refused.prefixed("renewing the token failed: ")
    assert str(renewing) == (
        "renewing the token failed: the token endpoint refused the grant: invalid_grant, HTTP 400"
    )
    assert renewing.refused
    assert str(refused) == refused.message  # unchanged: a failure is a value


def test_a_failure_is_data_worded_where_it_is_shown() -> None:
    """What happened, the settings it concerns and what the server sent travel as they are:
    the worker that shows the failure words it (a factory's argument, or the option)."""
    failure = Failure(
        (
            "the token endpoint refused the grant: ",
            Received("invalid_grant"),
            ", HTTP 400; check ",
            Setting("user"),
            ", ",
            Setting("password"),
        ),
        refused=True,
    )
    back = through_json(failure)
    assert isinstance(back, Failure)
    assert back.concerns == (Setting("user"), Setting("password"))
    assert back.received == ("invalid_grant",)
    assert str(back) == (
        "the token endpoint refused the grant: invalid_grant, HTTP 400; check "
        "--barapi-user / BARAPI_USER, --barapi-password / BARAPI_PASSWORD"
    )
    assert back.worded(lambda setting: f"<{setting.name}>").endswith("check <user>, <password>")
