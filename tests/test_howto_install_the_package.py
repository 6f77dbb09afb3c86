"""What pip installs: one version, written once, and dependency bounds that are tested.

`pytest_barapi.__version__` is the only place the version is written; the package metadata
(`pip show`, `importlib.metadata`, `pytest -VV`) is built from it. Each runtime dependency's
lower bound is pinned in constraints/lowest.txt, which `tox -e lowest` and CI install to run
this suite at those bounds.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import pytest_barapi

LOWEST = Path(__file__).parent.parent / "constraints" / "lowest.txt"


def test_the_module_and_the_installed_metadata_agree() -> None:
    assert pytest_barapi.__version__ == importlib.metadata.version("pytest-barapi")


def test_pytest_lists_the_plugin_with_its_version(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-VV")

    # Under the heading "registered third-party plugins:" (or "setuptools
    # registered plugins:" in pytest 8.0).
    result.stdout.fnmatch_lines([f"  pytest-barapi-{pytest_barapi.__version__} at *"])


def test_reading_the_version_imports_no_other_module_of_the_plugin() -> None:
    """Tools that ask for the version do not pay for the plugin."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pytest_barapi; pytest_barapi.__version__; "
            "print(sorted(m for m in sys.modules if m.startswith('pytest_barapi')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert loaded == "['pytest_barapi']\n"


def declared_lower_bounds() -> dict[str, Version]:
    """The runtime dependencies of the installed metadata, each with its `>=` bound."""
    bounds: dict[str, Version] = {}
    for line in importlib.metadata.requires("pytest-barapi") or []:
        requirement = Requirement(line)
        if requirement.marker is None:  # extras (test, dev) carry an `extra ==` marker
            (spec,) = requirement.specifier
            assert spec.operator == ">=", f"{line}: a runtime dependency needs one lower bound"
            bounds[canonicalize_name(requirement.name)] = Version(spec.version)
    return bounds


def pinned_in_lowest() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOWEST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_runtime_dependency_is_pinned_at_its_lower_bound_for_the_lowest_run() -> None:
    assert declared_lower_bounds() == pinned_in_lowest()
