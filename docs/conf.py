"""Sphinx configuration of the pytest-barapi user guide (Markdown pages, read by myst-parser).

Build it as CI does, warnings as errors: ``sphinx-build -W --keep-going -b html docs docs/_build``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest_barapi

# The guide's own extension: the settings table and the fixtures, generated from the code.
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "pytest-barapi"
author = "pytest-barapi contributors"
copyright = "pytest-barapi contributors"
release = pytest_barapi.__version__
version = release

extensions = ["myst_parser", "barapi_docs"]
myst_enable_extensions = ["deflist"]
# Headings get anchors, so pages can link to a section: [text](secrets.md#known-limits).
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "Thumbs.db", ".DS_Store"]

html_theme = "furo"
html_title = f"pytest-barapi {release}"
# Nothing fetched at build time: the guide builds offline from the installed packages.
html_static_path = ["_static"]
html_css_files = ["barapi.css"]
