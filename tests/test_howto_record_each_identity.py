"""How each identity records and replays its own exchange, never another's.

The configured identity uses ``barapi_cassette`` itself; any other (``barapi_session_factory``)
a sibling file named after its user, client id and scope.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from pytest_barapi.identity import Identity
from pytest_barapi.secrets import Secret
from pytest_barapi.settings import Settings
from pytest_barapi.token_cassette import cassette_path
from tests import reference_server
from tests.conftest import go_offline
from tests.reference_server import ReferenceServer

BOB_PASSWORD = "fake-password-of-bob-Bb3wK"


def test_each_identity_replays_its_own_exchange(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    barapi_server.users["bob@example.test"] = BOB_PASSWORD
    monkeypatch.setenv("BOB_PASSWORD", BOB_PASSWORD)
    # Who is who is not secret: it lives in the ini, so replay names the same files.
    pytester.makeini(
        f"""
        [pytest]
        barapi_url = {barapi_server.url}
        barapi_user = {reference_server.USER}
        barapi_client_id = {reference_server.CLIENT_ID}
        barapi_cassette = cassettes/barapi_token.yaml
        """
    )
    pytester.makepyfile(
        """
        import os

        def test_default(barapi_token):
            assert barapi_token.scope in (None, "")

        def test_reader(barapi_session_factory):
            # The password is there when recording, and not needed when replaying.
            reader = barapi_session_factory(
                user="bob@example.test", password=os.environ.get("BOB_PASSWORD"), scope="read"
            )
            assert reader.auth.current_token().scope == "read"
        """
    )

    pytester.runpytest("--record-mode=once").assert_outcomes(passed=2)
    assert barapi_server.token_request_count == 2
    cassettes = sorted(p.name for p in (pytester.path / "cassettes").iterdir())
    assert len(cassettes) == 2
    assert "barapi_token.yaml" in cassettes

    go_offline(monkeypatch, httpserver)
    monkeypatch.delenv("BOB_PASSWORD")
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=2)
    assert httpserver.log == []


def settings_with(cassette: Path | None) -> Settings:
    return Settings(
        url="https://barapi.cloud",
        identity=Identity(
            user="alice",
            password=Secret("alice's password"),
            client_id="client",
            client_secret=Secret("client secret"),
        ),
        timeout=30,
        cassette=cassette,
        sources={},
    )


def test_cassette_names_depend_on_user_client_and_scope_never_on_a_password(
    tmp_path: Path,
) -> None:
    settings = settings_with(tmp_path / "barapi_token.yaml")

    def path(user: str, scope: str = "", password: str = "pw") -> Path | None:
        return cassette_path(
            settings, Identity(user, Secret(password), "client", Secret("s"), scope)
        )

    assert cassette_path(settings, settings.identity) == tmp_path / "barapi_token.yaml"
    bob = path("bob")
    assert bob is not None
    assert bob.parent == tmp_path
    assert bob.name.startswith("barapi_token.")
    assert bob.suffix == ".yaml"
    assert path("bob") == bob  # stable
    assert path("bob", password="another") == bob  # a password is not in the name
    assert len({bob, path("carol"), path("bob", scope="read")}) == 3
    assert cassette_path(settings_with(None), settings.identity) is None
