"""A suite that never asks for a barapi fixture does not load the heavy parts of the plugin.

Each run is a subprocess, so what the outer test process has imported cannot hide anything.
"""

from __future__ import annotations

import json

import pytest

from tests.reference_server import ReferenceServer

# Third-party packages the plugin needs only once a test asks for the token or session, and
# the plugin's own modules that pull them in.
HEAVY = ("requests", "urllib3", "vcr", "yaml", "filelock")
HEAVY_OWN = ("pytest_barapi.exchange", "pytest_barapi.session")

RECORD_MODULES = """
import json
import sys

def pytest_unconfigure(config):
    (config.rootpath / "modules.json").write_text(json.dumps(sorted(sys.modules)))
"""


def modules_after_run(pytester: pytest.Pytester, test: str) -> set[str]:
    pytester.makeconftest(RECORD_MODULES)
    pytester.makepyfile(test)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    return set(json.loads((pytester.path / "modules.json").read_text()))


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY_OWN}


def test_a_run_without_barapi_fixtures_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    modules = modules_after_run(pytester, "def test_plain():\n    assert 1 + 1 == 2\n")
    assert "pytest_barapi.plugin" in modules  # the plugin was loaded, and stayed light
    assert heavy(modules) == set()


def test_the_heavy_parts_load_once_a_test_needs_the_session(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    modules = modules_after_run(
        pytester, "def test_me(barapi_session):\n    assert barapi_session.get('/v1/me').ok\n"
    )
    assert {"requests", "urllib3", *HEAVY_OWN} <= heavy(modules)
