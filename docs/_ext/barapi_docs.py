"""The parts of the guide that are read from the code at build time, so that they cannot drift.

``{barapi-settings}``: one table of every setting, from ``pytest_barapi.settings.OPTIONS``
(only its public fields: name, help, default, secret, flag, env, ini).

``{barapi-fixtures}``: each fixture of the plugin (the module the ``pytest11`` entry point
``barapi`` names), with its scope and its docstring.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
from types import ModuleType
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

# A reST role in a docstring (:class:`Secret`) as MyST writes it ({class}`Secret`).
REST_ROLE = re.compile(r":([a-z:]+):`")


def _markdown(directive: SphinxDirective, lines: list[str]) -> list[nodes.Node]:
    """``lines`` of MyST Markdown, parsed where the directive stands."""
    container = nodes.container()
    directive.state.nested_parse(StringList(lines, "barapi_docs"), 0, container)
    return list(container.children)


def _code(text: str) -> str:
    return f"`{text}`"


# Markdown would read these in a help text or a docstring: <url> as HTML, * as emphasis.
MARKUP = re.compile(r"([\\*_<>|\[\]])")
CODE_SPAN = re.compile(r"(``.+?``|`[^`]+`)")


def _text(text: str) -> str:
    """``text`` as Markdown shows it: code spans as they are, markup characters escaped."""
    return "".join(
        part if CODE_SPAN.fullmatch(part) else MARKUP.sub(r"\\\1", part)
        for part in CODE_SPAN.split(text)
    )


class SettingsTable(SphinxDirective):
    """Every option ``pytest_barapi.settings.OPTIONS`` declares: one row each."""

    def run(self) -> list[nodes.Node]:
        from pytest_barapi.settings import OPTIONS

        lines = [
            "| CLI, env, ini | default | what it is |",
            "|---|---|---|",
        ]
        for option in OPTIONS.values():
            default = "none" if option.default is None else _code(repr(option.default))
            secret = " **Secret**: masked everywhere." if option.secret else ""
            # One cell for the three names: the table stays narrow enough for the help text.
            names = "<br>".join(_code(name) for name in (option.flag, option.env, option.ini))
            lines.append(f"| {names} | {default} | {_text(option.help)}{secret} |")
        return _markdown(self, lines)


def plugin_module() -> ModuleType:
    """The module pytest loads as the plugin (entry point ``pytest11``: ``barapi``)."""
    (entry,) = [
        entry
        for entry in importlib.metadata.entry_points(group="pytest11")
        if entry.name == "barapi" and entry.value.startswith("pytest_barapi")
    ]
    return importlib.import_module(entry.value)


def fixtures(module: ModuleType) -> list[tuple[str, str, str]]:
    """``(name, scope, docstring)`` of each fixture ``module`` defines, in source order."""
    from _pytest.fixtures import getfixturemarker  # pytest's own reading of @pytest.fixture

    found: list[tuple[int, str, str, str]] = []
    for attribute, value in vars(module).items():
        marker: Any = getfixturemarker(value)
        if marker is None:
            continue
        # pytest 8.4 and later wrap the function; earlier, the fixture is the function.
        unwrap = getattr(value, "_get_wrapped_function", None)
        line = inspect.getsourcelines(unwrap() if unwrap else value)[1]
        name = marker.name or attribute
        found.append((line, name, str(marker.scope), inspect.getdoc(value) or ""))
    return [(name, scope, doc) for _line, name, scope, doc in sorted(found)]


class FixtureList(SphinxDirective):
    """Each fixture of the plugin, with its scope and docstring."""

    def run(self) -> list[nodes.Node]:
        lines: list[str] = []
        for name, scope, doc in fixtures(plugin_module()):
            if not doc:
                raise self.error(f"the fixture {name} has no docstring")
            lines += [f"({name})=", f"```{{rubric}} {name}", "```", f"Scope: `{scope}`.", ""]
            lines += [_text(REST_ROLE.sub(r"{\1}`", line)) for line in doc.splitlines()]
            lines.append("")
        return _markdown(self, lines)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("barapi-settings", SettingsTable)
    app.add_directive("barapi-fixtures", FixtureList)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
