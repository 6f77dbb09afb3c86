"""A suite that never asks for a barapi fixture does not load the heavy parts of the plugin.

Each run is a subprocess, so what the outer test process has imported cannot hide anything.
"""

from __future__ import annotations

import importlib
import json

import pytest

from tests.conftest import point_barapi_at
from tests.reference_server import ReferenceServer

# Third-party packages the plugin needs only once a test asks for a token or a session.
HEAVY = {"requests", "urllib3", "vcr", "yaml", "filelock"}
# The plugin's own modules that only a test using barapi needs (or, for scrubbing, a
# configured secret).
LATER = {
    "pytest_barapi.broker",
    "pytest_barapi.cassette",
    "pytest_barapi.exchange",
    "pytest_barapi.scrubbing",
    "pytest_barapi.session",
    "pytest_barapi.sharing",
    "pytest_barapi.token",
}

RECORD_MODULES = """
import importlib
import json
import sys

def pytest_unconfigure(config):
    (config.rootpath / "modules.json").write_text(json.dumps(sorted(sys.modules)))
"""
PLAIN_TEST = "def test_plain():\n    assert 1 + 1 == 2\n"


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


def test_a_run_without_barapi_fixtures_imports_only_settings_and_secrets(
    pytester: pytest.Pytester,
) -> None:
    modules = modules_after_run(pytester, PLAIN_TEST)
    assert heavy(modules) == set()
    assert {name for name in modules if name.startswith("pytest_barapi.")} == {
        "pytest_barapi.plugin",
        "pytest_barapi.settings",
        "pytest_barapi.secrets",
    }


def test_configured_credentials_load_the_scrubber_and_nothing_heavy(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test could print a configured password: it is masked from the start."""
    point_barapi_at("https://barapi.example.test", monkeypatch)
    modules = modules_after_run(pytester, PLAIN_TEST)
    assert heavy(modules) == set()
    assert modules & LATER == {"pytest_barapi.scrubbing"}


def test_the_heavy_parts_load_once_a_test_needs_the_session(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    modules = modules_after_run(
        pytester, "def test_me(barapi_session):\n    assert barapi_session.get('/v1/me').ok\n"
    )
    assert {"requests", "urllib3"} <= heavy(modules)
    assert LATER - {"pytest_barapi.cassette"} <= modules


def test_the_modules_loaded_at_start_up_are_not_assert_rewritten(
    pytester: pytest.Pytester,
) -> None:
    """pytest rewrites the asserts of every module of a plugin's distribution, and where it
    cannot cache the result (``PYTHONDONTWRITEBYTECODE=1``, as in many CI containers) it
    parses and compiles them again on every run. The ones every run loads opt out."""
    modules = modules_after_run(pytester, PLAIN_TEST)
    loaded = sorted(name for name in modules if name.split(".")[0] == "pytest_barapi")
    assert loaded == [
        "pytest_barapi",
        "pytest_barapi.plugin",
        "pytest_barapi.secrets",
        "pytest_barapi.settings",
    ]
    for name in loaded:
        assert "PYTEST_DONT_REWRITE" in (importlib.import_module(name).__doc__ or ""), name
