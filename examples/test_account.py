"""What a barapi integration suite looks like with pytest-barapi."""

import pytest
import requests


def test_the_token_is_a_bearer_token(barapi_token):
    assert barapi_token.token_type == "Bearer"
    assert not barapi_token.expires_within(60)


@pytest.mark.vcr
def test_me_is_the_configured_user(barapi_session):
    response = barapi_session.get("/v1/me")

    assert response.status_code == 200
    assert response.json()["user"] == "alice@example.test"


@pytest.mark.vcr
def test_me_needs_a_token(barapi_session):
    response = requests.get(f"{barapi_session.base_url}/v1/me", timeout=10)

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token"}


@pytest.mark.vcr
def test_the_session_is_reused_across_calls(barapi_session):
    first = barapi_session.get("/v1/me").json()
    second = barapi_session.get("v1/me").json()

    assert first == second
