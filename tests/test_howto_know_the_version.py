"""Which pytest-barapi is installed: one version, written once, the same wherever it is read.

`pytest_barapi.__version__` is the only place the version is written; the package metadata
(`pip show`, `importlib.metadata`, `pytest -VV`) is built from it.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import pytest_barapi


def test_the_module_and_the_installed_metadata_agree() -> None:
    assert pytest_barapi.__version__ == importlib.metadata.version("pytest-barapi")


def test_pytest_lists_the_plugin_with_its_version(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-VV")

    result.stdout.fnmatch_lines(
        ["registered third-party plugins:", f"*pytest-barapi-{pytest_barapi.__version__} at *"]
    )


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
