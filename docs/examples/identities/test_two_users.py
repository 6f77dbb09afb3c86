import os

import pytest


@pytest.fixture(scope="session")
def bob(barapi_session_factory):
    return barapi_session_factory(user="bob@example.test", password=os.environ["BOB_PASSWORD"])


def test_bob_and_alice_are_two_users(bob, barapi_session):
    assert bob.get("/v1/me").json()["user"] == "bob@example.test"
    assert barapi_session.get("/v1/me").json()["user"] != "bob@example.test"
