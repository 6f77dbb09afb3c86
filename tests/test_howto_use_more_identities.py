"""``barapi_session_factory``: sessions for more users, each exchanged once per run."""

from __future__ import annotations

import pytest

from tests import reference_server
from tests.reference_server import ReferenceServer

ALICE_AND_BOB = """
    import os

    import pytest

    @pytest.fixture(scope="session")
    def bob(barapi_session_factory):
        return barapi_session_factory(
            user="bob@example.test", password=os.environ["BOB_PASSWORD"]
        )

    @pytest.mark.parametrize("n", range(10))
    def test_alice(barapi_session, n):
        assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"

    @pytest.mark.parametrize("n", range(10))
    def test_bob(bob, n):
        assert bob.get("/v1/me").json()["user"] == "bob@example.test"
    """


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_each_identity_is_exchanged_once(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    xdist: list[str],
) -> None:
    monkeypatch.setenv("BOB_PASSWORD", reference_server.OTHER_PASSWORD)
    pytester.makepyfile(ALICE_AND_BOB)
    pytester.runpytest(*xdist).assert_outcomes(passed=20)
    users = sorted(form["username"] for form in barapi_server.token_requests)
    assert users == ["alice@example.test", "bob@example.test"]


def test_a_failing_identity_fails_alone_and_once(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one process; test_howto_share_across_workers.py shows workers sharing a failure."""
    monkeypatch.setenv("BOB_PASSWORD", "wrong-password-Wb2")
    pytester.makepyfile(ALICE_AND_BOB)
    result = pytester.runpytest()
    result.assert_outcomes(passed=10, errors=10)
    assert barapi_server.token_request_count == 2
    message = (
        "barapi (barapi_session_factory, user 'bob@example.test'): the token endpoint "
        f"{barapi_server.url}/oauth/token refused the grant: invalid_grant (Invalid "
        "credentials given.), HTTP 400; check "
        "barapi_session_factory(user=...), barapi_session_factory(password=...)"
    )
    assert result.outlines.count(message) == 10
    assert "wrong-password-Wb2" not in result.stdout.str()


def test_left_out_arguments_are_the_configured_ones(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        def test_same_identity_same_session(barapi_session_factory, barapi_session):
            assert barapi_session_factory() is barapi_session_factory()
            me = barapi_session_factory().get("/v1/me").json()
            assert me == barapi_session.get("/v1/me").json()

        def test_another_scope_is_another_identity(barapi_session_factory):
            me = barapi_session_factory(scope="read").get("/v1/me").json()
            assert me == {"user": "alice@example.test", "scopes": ["read"]}
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    default, read_only = barapi_server.token_requests
    assert default["scope"] == ""
    assert read_only["scope"] == "read"
    for form in (default, read_only):
        assert form["username"] == reference_server.USER
        assert form["password"] == reference_server.PASSWORD
        assert form["client_id"] == reference_server.CLIENT_ID
        assert form["client_secret"] == reference_server.CLIENT_SECRET


def test_the_factory_is_lazy_and_marked(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        def test_never_calls_it(barapi_session_factory):
            pass

        def test_plain():
            pass
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    assert barapi_server.token_request_count == 0
    pytester.runpytest("-m", "not barapi").assert_outcomes(passed=1, deselected=1)


def test_another_identity_renews_its_own_token(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOB_PASSWORD", reference_server.OTHER_PASSWORD)
    barapi_server.before_api_request[2] = barapi_server.revoke_access_tokens
    pytester.makepyfile(
        """
        import os

        def test_bob(barapi_session_factory):
            bob = barapi_session_factory(
                user="bob@example.test", password=os.environ["BOB_PASSWORD"]
            )
            assert bob.get("/v1/me").status_code == 200
            assert bob.get("/v1/me").json()["user"] == "bob@example.test"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert barapi_server.grant_types() == ["password", "refresh_token"]


def test_other_identities_stay_secret(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOB_PASSWORD", reference_server.OTHER_PASSWORD)
    pytester.makepyfile(
        """
        import os

        def test_fails_showing_locals(barapi_session_factory):
            bob = barapi_session_factory(
                user="bob@example.test", password=os.environ["BOB_PASSWORD"]
            )
            response = bob.get("/v1/me")
            assert response.json()["user"] == "nobody", (bob, bob.auth)
        """
    )
    result = pytester.runpytest("-l")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "bob@example.test" in output  # the locals are shown...
    for secret in [reference_server.OTHER_PASSWORD, *barapi_server.issued_secrets()]:
        assert secret not in output  # ...but no password or token


def test_a_missing_factory_password_names_the_argument(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BARAPI_PASSWORD")
    pytester.makepyfile(
        """
        import os

        def test_bob(barapi_session_factory):
            barapi_session_factory(user="bob@example.test", password=os.getenv("BOB_PASSWORD"))

        def test_carol(barapi_session_factory):
            barapi_session_factory(user="carol@example.test")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            # Passed, and None: only the argument can help.
            "barapi (barapi_session_factory, user 'bob@example.test'): missing credentials, no "
            "request sent: set barapi_session_factory(password=...)",
            # Left out: the configured password would do too.
            "barapi (barapi_session_factory, user 'carol@example.test'): missing credentials, "
            "no request sent: set barapi_session_factory(password=...) or --barapi-password / "
            "BARAPI_PASSWORD",
        ]
    )
    assert barapi_server.token_request_count == 0
