"""A suite that never asks for a barapi fixture does not load the heavy parts of the plugin.

Each run is a subprocess, so what the outer test process has imported cannot hide anything.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import point_barapi_at
from tests.reference_server import ReferenceServer

# Third-party packages the plugin needs only once a test asks for a token or a session.
HEAVY = {"requests", "urllib3", "vcr", "yaml"}
# The plugin's own modules that only a test using barapi needs (or, for the exits, a
# configured secret).
LATER = {
    "pytest_barapi.answer",
    "pytest_barapi.broker",
    "pytest_barapi.token_cassette",
    "pytest_barapi.exchange",
    "pytest_barapi.fragments",
    "pytest_barapi.masking",
    "pytest_barapi.outcome",
    "pytest_barapi.outcome_board",
    "pytest_barapi.exits",
    "pytest_barapi.session",
    "pytest_barapi.sharing",
    "pytest_barapi.token",
    "pytest_barapi.unescaping",
}

RECORD_MODULES = """
import json
import sys

def pytest_unconfigure(config):
    (config.rootpath / "modules.json").write_text(json.dumps(sorted(sys.modules)))
"""
RECORD_LOADERS = """
import json
import sys

def pytest_unconfigure(config):
    loaders = {
        name: type(module.__loader__).__name__
        for name, module in list(sys.modules.items())
        if name.split(".")[0] == "pytest_barapi"
    }
    (config.rootpath / "loaders.json").write_text(json.dumps(loaders))
"""
PLAIN_TEST = "def test_plain():\n    assert 1 + 1 == 2\n"
# Each process of an xdist run notes whether it has a line to the controller's board of
# outcomes (a worker) or masks what it prints (the controller, which the lines pass through).
RECORD_LINES = """
import json

def pytest_unconfigure(config):
    workerinput = getattr(config, "workerinput", None)
    name = workerinput["workerid"] if workerinput else "controller"
    seen = {
        "line": workerinput is not None and "barapi_sharing" in workerinput,
        "masking": config.pluginmanager.has_plugin("barapi-secret-masking"),
    }
    (config.rootpath / f"{name}.json").write_text(json.dumps(seen))
"""


def modules_after_run(pytester: pytest.Pytester, test: str) -> set[str]:
    pytester.makeconftest(RECORD_MODULES)
    pytester.makepyfile(test)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    modules = set(json.loads((pytester.path / "modules.json").read_text()))
    assert "pytest_barapi.plugin" in modules  # the plugin was loaded
    return modules


def heavy(modules: set[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] in HEAVY}


def test_a_run_without_barapi_fixtures_imports_only_settings_secrets_and_run_state(
    pytester: pytest.Pytester,
) -> None:
    modules = modules_after_run(pytester, PLAIN_TEST)
    assert heavy(modules) == set()
    assert {name for name in modules if name.startswith("pytest_barapi.")} == {
        "pytest_barapi.plugin",
        "pytest_barapi.run",
        "pytest_barapi.settings",
        "pytest_barapi.identity",
        "pytest_barapi.secrets",
        "pytest_barapi.known_secrets",
    }


def test_configured_credentials_load_the_scrubber_and_nothing_heavy(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test could print a configured password: it is masked from the start."""
    point_barapi_at("https://barapi.example.test", monkeypatch)
    modules = modules_after_run(pytester, PLAIN_TEST)
    assert heavy(modules) == set()
    assert modules & LATER == {
        "pytest_barapi.fragments",
        "pytest_barapi.masking",
        "pytest_barapi.exits",
        "pytest_barapi.unescaping",
    }


def test_the_heavy_parts_load_once_a_test_needs_the_session(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    modules = modules_after_run(
        pytester, "def test_me(barapi_session):\n    assert barapi_session.get('/v1/me').ok\n"
    )
    assert {"requests", "urllib3"} <= heavy(modules)
    # No cassette configured, no xdist worker: those modules stay unloaded.
    cassettes = {"pytest_barapi.token_cassette"}
    xdist = {"pytest_barapi.sharing", "pytest_barapi.outcome_board"}
    assert LATER - cassettes - xdist <= modules
    assert not xdist & modules


def test_only_the_package_itself_goes_through_pytests_assertion_rewriter(
    pytester: pytest.Pytester,
) -> None:
    """pytest rewrites the asserts of every module of a plugin's distribution, and where it
    cannot cache the result (``PYTHONDONTWRITEBYTECODE=1``, as in many CI containers) it
    parses and compiles them again on every run. Ours hold no test asserts: Python's own
    loader imports them, from the bytecode pip compiled."""
    pytester.makeconftest(RECORD_LOADERS)
    pytester.makepyfile(PLAIN_TEST)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    loaders = json.loads((pytester.path / "loaders.json").read_text())
    # The package itself goes through pytest's hook where pytest sees the distribution's files
    # (a wheel; not every editable install): it is small, and it installs the finder.
    loaders.pop("pytest_barapi")
    assert "pytest_barapi.plugin" in loaders
    assert set(loaders.values()) == {"SourceFileLoader"}, loaders


def lines_and_masking(pytester: pytest.Pytester, *args: str) -> dict[str, dict[str, bool]]:
    """What each process of an xdist run of one plain test had: a line, the masking."""
    pytester.makeconftest(RECORD_LINES)
    pytester.makepyfile(PLAIN_TEST)
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    return {path.stem: json.loads(path.read_text()) for path in pytester.path.glob("*.json")}


def test_under_xdist_a_run_that_sets_no_barapi_option_masks_nothing(
    pytester: pytest.Pytester,
) -> None:
    """Nothing set for barapi, no test asks for a token: each worker has its line to the
    board (a channel, nothing sent on it), and no process masks what it prints."""
    seen = lines_and_masking(pytester, "-n", "2")
    worker = {"line": True, "masking": False}
    assert seen == {"controller": {"line": False, "masking": False}, "gw0": worker, "gw1": worker}


def test_a_barapi_option_without_a_secret_masks_nothing_either(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Configured as README shows (here only the URL, no secret) and no test asking for a
    token: nothing to mask, so neither the controller nor a worker masks."""
    monkeypatch.setenv("BARAPI_URL", "https://barapi.example.test")
    seen = lines_and_masking(pytester, "-n", "2")
    worker = {"line": True, "masking": False}
    assert seen == {"controller": {"line": False, "masking": False}, "gw0": worker, "gw1": worker}


def test_the_controller_masks_from_the_first_secret_a_worker_tells_it(
    pytester: pytest.Pytester,
) -> None:
    """Nothing set for barapi, and a worker's test gives a password to the factory: the
    worker masks it, tells the controller over its line, and the controller masks too."""
    pytester.makeconftest(RECORD_LINES)
    pytester.makepyfile(
        """
        def test_other_user(barapi_session_factory):
            barapi_session_factory(user="bob@example.test", password="fake-Bob-pw-8812")
        """
    )
    result = pytester.runpytest_subprocess("-n", "1")
    # No client given: the test fails, having learnt the password all the same.
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*missing credentials, no request sent*"])
    seen = {path.stem: json.loads(path.read_text()) for path in pytester.path.glob("*.json")}
    on = {"line": False, "masking": True}
    assert seen == {"controller": on, "gw0": {"line": True, "masking": True}}
    assert "could not mask" not in result.stdout.str()


# The controller's masking is installed on the thread that reads a worker's messages, where an
# error would go unseen: broken on purpose here, in the controller only.
CONTROLLER_CANNOT_MASK = """
import pytest_barapi.exits

def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        def broken(self, known, config):
            raise TypeError("broken on purpose")

        pytest_barapi.exits.SecretMasking.__init__ = broken
"""


def test_a_controller_that_cannot_mask_says_so_at_the_end(pytester: pytest.Pytester) -> None:
    """Should the controller fail to install its masking, the run does not go on as if it
    masked: its last lines say that what it printed may show the secrets."""
    pytester.makeconftest(CONTROLLER_CANNOT_MASK)
    pytester.makepyfile(
        """
        def test_other_user(barapi_session_factory):
            barapi_session_factory(user="bob@example.test", password="fake-Bob-pw-8812")
        """
    )
    result = pytester.runpytest_subprocess("-n", "1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "barapi: could not mask the run's secrets in this process's output (TypeError); "
            "what it printed may show them. Please report this as a pytest-barapi bug.",
            "*= 1 failed in *",
        ]
    )


def test_a_worker_that_asks_for_a_token_but_learns_no_secret_leaves_the_controller_unmasked(
    pytester: pytest.Pytester,
) -> None:
    """Nothing set, a test asks for the token: the worker (which masks from its first request
    for a token) fails it for want of credentials and has no secret to tell, so the controller
    still masks nothing."""
    pytester.makeconftest(RECORD_LINES)
    pytester.makepyfile("def test_token(barapi_token):\n    pass\n")
    result = pytester.runpytest_subprocess("-n", "1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*missing credentials, no request sent*"])
    seen = {path.stem: json.loads(path.read_text()) for path in pytester.path.glob("*.json")}
    assert seen == {
        "controller": {"line": False, "masking": False},
        "gw0": {"line": True, "masking": True},
    }


def test_a_worker_that_reads_settings_of_its_own_gets_its_line(pytester: pytest.Pytester) -> None:
    """The controller cannot see what a worker started with variables of its own (or on
    another machine, in another directory) has set: the line is there all the same."""
    spec = "2*popen//env:BARAPI_USER=bob@example.test"
    seen = lines_and_masking(pytester, "--dist", "load", "--tx", spec)
    worker = {"line": True, "masking": False}
    assert seen == {"controller": {"line": False, "masking": False}, "gw0": worker, "gw1": worker}


FINALIZERS_OF_THE_USERS_FIXTURE = """
import pytest


@pytest.fixture(scope="session")
def project():
    yield "p"


def test_the_fixture_has_only_pytests_finalizers(request, project):
    fixturedef = request._pyfuncitem._fixtureinfo.name2fixturedefs["project"][-1]
    finalizers = [getattr(f, "func", f) for f in fixturedef._finalizers]  # partial's too
    ours = [f for f in finalizers if "barapi" in getattr(f, "__module__", "")
            or "barapi" in type(getattr(f, "__self__", None)).__module__]
    print("barapi finalizers:", len(ours))
"""


@pytest.mark.parametrize(
    ("ini", "expected"),
    [
        ("", "barapi finalizers: 0"),
        # With a token cassette, a session fixture's requests go to the cassette of the run:
        # its setup and teardown are framed (the check can fail).
        ("barapi_cassette = cassettes/barapi_token.yaml\n", "barapi finalizers: 2"),
    ],
    ids=["no-cassette", "token-cassette"],
)
def test_a_run_that_records_no_barapi_cassette_leaves_the_users_fixtures_alone(
    pytester: pytest.Pytester, ini: str, expected: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}")
    pytester.makepyfile(FINALIZERS_OF_THE_USERS_FIXTURE)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{expected}"])
