import pytest


@pytest.mark.vcr  # pytest-recording records the API calls, and replays them
def test_me(barapi_session):
    response = barapi_session.get("/v1/me")
    assert response.status_code == 200
