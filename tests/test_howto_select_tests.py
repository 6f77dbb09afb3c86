"""How a run decides whether to talk to barapi at all: only for selected tests that need it.

A test that requests a barapi fixture, directly or through its own fixtures, is marked
``barapi`` automatically, so ``-m "not barapi"`` runs the rest without credentials. A fixture
asked for at run time (``request.getfixturevalue``) cannot be seen before the test runs: there
the test is told to mark itself, rather than make an exchange the run said it would not.
"""

from __future__ import annotations

import pytest

from tests.reference_server import ReferenceServer

MIXED_SUITE = """
import pytest

@pytest.fixture
def me(barapi_session):
    return barapi_session.get("/v1/me").json()

def test_plain():
    assert 1 + 1 == 2

def test_direct(barapi_token):
    assert barapi_token.access_token

def test_through_a_fixture(me):
    assert me["user"] == "alice@example.test"

def test_marker(request):
    assert request.node.get_closest_marker("barapi") is None
"""


def test_tests_that_need_barapi_are_marked(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(MIXED_SUITE)
    result = pytester.runpytest("-m", "barapi", "-v")
    result.assert_outcomes(passed=2, deselected=2)
    result.stdout.fnmatch_lines(["*test_direct PASSED*", "*test_through_a_fixture PASSED*"])
    assert barapi_server.token_request_count == 1


def test_not_barapi_runs_the_rest_without_a_request(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(MIXED_SUITE)
    result = pytester.runpytest("-m", "not barapi")
    result.assert_outcomes(passed=2, deselected=2)
    assert barapi_server.token_request_count == 0


def test_nothing_is_sent_when_no_selected_test_needs_it(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(MIXED_SUITE)
    pytester.runpytest("-k", "plain").assert_outcomes(passed=1, deselected=3)
    pytester.runpytest("--collect-only").assert_outcomes()
    assert barapi_server.token_request_count == 0


def test_a_conftest_hook_sees_the_marker(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The marker is put on before any other plugin's or conftest's collection hook runs, so
    a user's own ``pytest_collection_modifyitems`` can skip or deselect by it."""
    monkeypatch.delenv("BARAPI_PASSWORD")
    pytester.makeconftest(
        """
        import os

        import pytest

        def pytest_collection_modifyitems(config, items):
            if not os.environ.get("BARAPI_PASSWORD"):
                for item in items:
                    if item.get_closest_marker("barapi"):
                        item.add_marker(pytest.mark.skip(reason="no barapi credentials"))
        """
    )
    pytester.makepyfile(MIXED_SUITE)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] *: no barapi credentials"])
    assert barapi_server.token_request_count == 0


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.barapi: *"])
    pytester.makepyfile(MIXED_SUITE)
    pytester.runpytest("--strict-markers", "-m", "not barapi").assert_outcomes(
        passed=2, deselected=2
    )


def test_the_fixtures_document_themselves(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    # One at a time: pytest sorts them by "file:line" as text, which moves with the code.
    for name, summary in (
        ("barapi_token", "*one OAuth password-grant exchange per run*"),
        ("barapi_session", "*requests.Session*"),
        ("barapi_session_factory", "*for other identities*"),
        ("barapi_mask", "*Masks a value the test got by itself*"),
    ):
        result.stdout.fnmatch_lines([f"{name} [[]session scope[]]*", summary])


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_token(barapi_token): pass")
    result = pytester.runpytest("-p", "no:barapi")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'barapi_token' not found*"])
    assert "barapi: url" not in result.stdout.str()


ASKED_AT_RUN_TIME = """
import pytest

def test_plain():
    pass

def test_asks_at_run_time(request):
    assert request.getfixturevalue("barapi_token").access_token

@pytest.mark.slow
def test_slow_asks_at_run_time(request):
    assert request.getfixturevalue("barapi_session").get("/v1/me").status_code == 200
"""

UNSEEN = (
    "barapi: this test asks for a barapi fixture at run time (request.getfixturevalue), which -m "
    '"not barapi" cannot see; no request sent: mark the test @pytest.mark.barapi'
)


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["one-process", "xdist"])
def test_a_fixture_asked_for_at_run_time_under_not_barapi_says_to_mark_the_test(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, workers: tuple[str, ...]
) -> None:
    # pytest cannot see request.getfixturevalue before the test runs: the test is not marked,
    # and -m "not barapi" keeps it. It gets no token but the advice, and nothing is sent.
    pytester.makepyfile(ASKED_AT_RUN_TIME)
    pytester.makeini("[pytest]\nmarkers = slow: takes its time")
    result = pytester.runpytest_subprocess("-m", "not barapi", *workers)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([UNSEEN])
    assert barapi_server.token_request_count == 0


DYNAMIC_TEST = """
def test_dynamic(request):
    assert request.getfixturevalue("barapi_token").access_token
"""

SMOKE_TEST = """
@pytest.mark.smoke
def test_smoke(barapi_token):
    assert barapi_token.access_token
"""


INDIRECT_DYNAMIC_TEST = """
@pytest.fixture(scope="session")
def token_of_the_run(barapi_token):
    return barapi_token

def test_dynamic(request):
    assert request.getfixturevalue("token_of_the_run").access_token
"""


@pytest.mark.parametrize(
    "tests",
    [
        (DYNAMIC_TEST, SMOKE_TEST),
        (SMOKE_TEST, DYNAMIC_TEST),
        (INDIRECT_DYNAMIC_TEST, SMOKE_TEST.replace("barapi_token", "token_of_the_run")),
        (SMOKE_TEST.replace("barapi_token", "token_of_the_run"), INDIRECT_DYNAMIC_TEST),
    ],
    ids=["asks-first", "asks-last", "through-a-fixture-first", "through-a-fixture-last"],
)
def test_the_refusal_is_the_asking_tests_own_whatever_the_order(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, tests: tuple[str, str]
) -> None:
    """A marked test keeps its token after the refusal, and a test asking at run time is
    refused after the token was made for a marked one."""
    pytester.makepyfile("import pytest\n" + "".join(tests))
    pytester.makeini("[pytest]\nmarkers = smoke: a few quick tests")

    result = pytester.runpytest("-m", "not barapi or smoke", "-p", "no:randomly", "-rA")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["PASSED test_*::test_smoke"])
    assert (
        result.outlines.count(
            "barapi: this test asks for a barapi fixture at run time (request.getfixturevalue), "
            'which -m "not barapi or smoke" cannot see; no request sent: mark the test '
            "@pytest.mark.barapi"
        )
        == 1
    )
    result.stdout.fnmatch_lines(["FAILED test_*::test_dynamic*"])
    assert barapi_server.token_request_count == 1  # test_smoke's


def test_a_fixture_asked_for_at_run_time_works_where_the_marker_would_not_deselect(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(ASKED_AT_RUN_TIME)
    pytester.makeini("[pytest]\nmarkers = slow: takes its time")
    pytester.runpytest("-m", "not slow").assert_outcomes(passed=2, deselected=1)
    pytester.runpytest("-m", "slow or barapi").assert_outcomes(passed=1, deselected=2)
    pytester.runpytest().assert_outcomes(passed=3)
    assert barapi_server.token_request_count == 3  # one per run
