"""README.md and the user guide in docs/ say what the plugin does, and keep saying it.

Every command of README.md and of the guide's quickstart is run by a test (here, against the
reference server, as written: only the URL is pointed at loopback and ``...`` filled in with
the fake secrets), or by a tox environment that CI runs (README's "Try it" as written, by
``.ci/try-it``; the Development commands as tox.ini's lines); every example file the guide
includes runs here; every message the troubleshooting page lists is built from the plugin's
own words; README stays short.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests import test_howto_run_the_examples
from tests.authlib_server import AuthlibServer
from tests.conftest import go_offline, unset_barapi_env
from tests.reference_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_PASSWORD,
    PASSWORD,
    ReferenceServer,
)

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
QUICKSTART = DOCS / "quickstart.md"
EXAMPLES = DOCS / "examples"
CI = ROOT / ".ci" / "run"
TOX_INI = ROOT / "tox.ini"
# The page a user reads first on PyPI: one screen and a little more.
README_MOST_LINES = 200

# The user and client id README and the quickstart show; the reference server accepts them.
DOCUMENTED_USERS = {"alice@example.com": PASSWORD, "john@doe.com": PASSWORD}
DOCUMENTED_CLIENT = "332269999912132097"


def fenced(path: Path, language: str) -> list[str]:
    """The ```language blocks of a Markdown file, each as text."""
    pattern = re.compile(rf"^```{language}\n(.*?)^```$", re.MULTILINE | re.DOTALL)
    return pattern.findall(path.read_text(encoding="utf-8"))


def commands(path: Path) -> list[str]:
    """The commands of the ```bash blocks of a Markdown file: continuation lines joined,
    comments and blank lines left out."""
    found = []
    for block in fenced(path, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.lstrip().startswith("#"):
                continue
            command = " ".join(re.sub(r"\s+#\s.*$", "", line).split())
            if command:
                found.append(command)
    return found


@dataclass
class InTest:
    """A test runs the command: the source of ``where`` (``path::function``) holds ``needle``."""

    where: str
    needle: str


@dataclass
class InTox:
    """A tox environment runs the command: tox.ini gives ``env`` (with what it takes from
    [testenv]) exactly these ``settings``, and env_list names it: ``tox`` runs it, and
    ``.ci/run`` runs env_list (the py3XX environments as ``coverage``, which is [testenv] too)."""

    env: str
    settings: dict[str, str | list[str]]


@dataclass
class InCi:
    """CI's own job: ``.ci/run`` holds ``line``."""

    line: str


HERE = "tests/test_howto_follow_the_guide.py::"
# Each command of README.md and docs/quickstart.md, and what runs it.
RUN_BY: dict[str, InTest | InTox | InCi] = {
    # .ci/try-it reads it from README.md and runs it as written, in a fresh copy of the repository.
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/pytest examples "
    "--record-mode=none --block-network": InTox("examples", {"commands": "bash .ci/try-it"}),
    "bash .ci/run": InCi('listed=$("$tox" list -d --no-desc --quiet)'),
    # Not on PyPI before a release: tox builds the wheel and installs it, as pip would.
    "pip install pytest-barapi": InTox("py313", {"package": "wheel"}),
    "export BARAPI_USER=alice@example.com BARAPI_PASSWORD=... BARAPI_CLIENT_ID=332269999912132097 "
    "BARAPI_CLIENT_SECRET=...": InTest(HERE + "test_the_quickstart_runs_as_written", "QUICKSTART"),
    "pytest": InTest(HERE + "test_the_quickstart_runs_as_written", "QUICKSTART"),
    'pytest -m "not barapi"': InTest(
        HERE + "test_the_tests_that_need_no_token_run_alone", "not barapi"
    ),
    "BARAPI_PASSWORD=... BARAPI_CLIENT_SECRET=... pytest --record-mode=once": InTest(
        HERE + "test_record_once_then_replay_in_ci_as_readme_says", "record_and_replay"
    ),
    "pytest --record-mode=none --block-network": InTest(
        HERE + "test_record_once_then_replay_in_ci_as_readme_says", "record_and_replay"
    ),
    # Development: a virtualenv of its own (tox's), the project installed editable with the
    # test and dev extras, the suite, then lint and types.
    "python -m venv .venv && . .venv/bin/activate": InTox(
        "lint", {"package": "editable", "extras": ["test", "dev"]}
    ),
    "pip install -e '.[test,dev]'": InTox(
        "lint", {"package": "editable", "extras": ["test", "dev"]}
    ),
    "python -m pytest": InTox("py313", {"commands": "python -m pytest {posargs}"}),
    "ruff check . && ruff format --check . && mypy": InTox(
        "lint", {"commands": ["ruff check .", "ruff format --check .", "mypy"]}
    ),
}


def test_readme_fits_in_a_screen_or_so() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MOST_LINES


def test_readme_has_no_relative_link_that_breaks_on_pypi() -> None:
    """PyPI shows README.md without the repository around it: a link must be absolute."""
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)]+)\)", text) + re.findall(r'(?:href|src)="([^"]+)"', text)
    assert targets  # the pattern finds links at all
    assert [target for target in targets if not target.startswith("https://")] == []


def test_readme_names_every_fixture_of_the_plugin() -> None:
    """Its fixtures table has a row per fixture, with its scope; its pointer to the Fixtures
    page names each."""
    from _pytest.fixtures import getfixturemarker  # pytest's own reading of @pytest.fixture

    from pytest_barapi import plugin

    markers = {name: getfixturemarker(value) for name, value in vars(plugin).items()}
    scopes = {m.name or name: str(m.scope) for name, m in markers.items() if m is not None}
    text = README.read_text(encoding="utf-8")
    assert dict(re.findall(r"^\| `(\w+)` \| (\w+) \|", text, re.MULTILINE)) == scopes
    (pointer,) = re.findall(r"^- \*\*Fixtures\*\*.*?(?=^- )", text, re.MULTILINE | re.DOTALL)
    assert sorted(re.findall(r"`(\w+)`", pointer)) == sorted(scopes)


@pytest.mark.parametrize("page", [README, QUICKSTART], ids=lambda page: page.name)
def test_every_command_is_run_by_a_test_or_by_ci(page: Path) -> None:
    found = commands(page)
    assert found  # the page has commands, and the extraction finds them
    for command in found:
        assert command in RUN_BY, f"{page.name}: no test runs {command!r}"


def tox_env(name: str) -> dict[str, list[str]]:
    """What tox.ini sets for the environment ``name`` (over what [testenv] sets for every one),
    each value as its lines; nothing for an environment that env_list does not name."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(TOX_INI, encoding="utf-8")
    if name not in tox["tox"]["env_list"].split():
        return {}
    own = tox[f"testenv:{name}"] if tox.has_section(f"testenv:{name}") else {}
    return {key: lines(value) for key, value in {**tox["testenv"], **own}.items()}


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("command", RUN_BY, ids=range(len(RUN_BY)))
def test_what_runs_a_command_runs_it(command: str) -> None:
    runner = RUN_BY[command]
    if isinstance(runner, InTox):
        settings = tox_env(runner.env)
        for key, value in runner.settings.items():
            expected = [value] if isinstance(value, str) else value
            assert settings.get(key) == expected, f"tox.ini, {runner.env}: {key}"
    elif isinstance(runner, InCi):
        assert runner.line in lines(CI.read_text(encoding="utf-8"))
    else:
        path, function = runner.where.split("::")
        source = (ROOT / path).read_text(encoding="utf-8")
        tree = ast.parse(source)
        (test,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
        assert runner.needle in ast.get_source_segment(source, test)


def test_ci_tries_the_command_of_readme_as_written() -> None:
    """.ci/try-it, which tox's examples environment runs, runs README's "Try it" command: the
    one it reads from README.md is the page's first, as written."""
    try_it = ROOT / ".ci" / "try-it"
    printed = subprocess.run(
        ["bash", str(try_it), "--print"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert printed == fenced(README, "bash")[0]
    assert RUN_BY[printed.strip()] == InTox("examples", {"commands": "bash .ci/try-it"})


def accept_the_documented_identities(server: ReferenceServer) -> None:
    server.users.update(DOCUMENTED_USERS)
    server.clients[DOCUMENTED_CLIENT] = CLIENT_SECRET


def run_commands(pytester: pytest.Pytester, lines: list[str]) -> pytest.RunResult:
    """``lines`` run by bash in the project, ``...`` standing for the fake secrets."""
    script = "\n".join(lines).replace("BARAPI_PASSWORD=...", f"BARAPI_PASSWORD={PASSWORD}")
    script = script.replace("BARAPI_CLIENT_SECRET=...", f"BARAPI_CLIENT_SECRET={CLIENT_SECRET}")
    assert "..." not in script
    return pytester.run("bash", "-c", f"set -e\n{script}", timeout=120)


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``pytest`` on PATH is this environment's, with the plugin as installed."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")


def test_the_quickstart_runs_as_written(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    on_path: None,
) -> None:
    """QUICKSTART's test file and commands; the header it shows is the one the run prints."""
    accept_the_documented_identities(barapi_server)
    unset_barapi_env(monkeypatch)
    monkeypatch.setenv("BARAPI_URL", barapi_server.url)  # the one change: barapi on loopback
    shutil.copy(EXAMPLES / "quickstart" / "test_me.py", pytester.path)
    (export,) = [c for c in commands(QUICKSTART) if c.startswith("export ")]
    (run,) = [c for c in commands(QUICKSTART) if c == "pytest"]

    result = run_commands(pytester, [export, run])

    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*1 passed*"])
    assert barapi_server.token_request_count == 1
    (documented,) = fenced(QUICKSTART, "text")
    assert fenced(README, "text") == [documented]  # README shows the same header
    header = documented.strip().replace(
        "url: https://barapi.cloud (default)", f"url: {barapi_server.url} (env)"
    )
    assert header in result.stdout.lines


def test_the_tests_that_need_no_token_run_alone(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    on_path: None,
) -> None:
    """No credentials at all: the `barapi` marker deselects the tests that would need them."""
    shutil.copy(EXAMPLES / "quickstart" / "test_me.py", pytester.path)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    (command,) = [c for c in commands(QUICKSTART) if "not barapi" in c]
    assert command in commands(README)
    unset_barapi_env(monkeypatch)
    monkeypatch.setenv("BARAPI_URL", barapi_server.url)  # were a request made, it stays here

    result = run_commands(pytester, [command])

    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*1 passed, 1 deselected*"])
    assert barapi_server.token_request_count == 0


def test_record_once_then_replay_in_ci_as_readme_says(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    on_path: None,
) -> None:
    """README's pytest.ini (pointed at loopback), then record_and_replay: its two commands."""
    accept_the_documented_identities(barapi_server)
    unset_barapi_env(monkeypatch)
    (ini,) = fenced(README, "ini")
    pytester.path.joinpath("pytest.ini").write_text(
        ini.replace("https://barapi.cloud", barapi_server.url)
    )
    shutil.copy(EXAMPLES / "recording" / "test_me_recorded.py", pytester.path)
    record_and_replay = [c for c in commands(README) if " pytest --record-mode" in f" {c}"]
    record, replay = record_and_replay

    recorded = run_commands(pytester, [record])
    assert recorded.ret == 0, recorded.stdout.str() + recorded.stderr.str()
    assert barapi_server.token_request_count == 1
    assert barapi_server.api_requests == 1
    cassettes = sorted(
        p.relative_to(pytester.path).as_posix() for p in pytester.path.rglob("*.yaml")
    )
    assert cassettes == [
        "cassettes/test_me_recorded/test_me.yaml",
        "tests/cassettes/barapi_token.yaml",
    ]

    replayed = run_commands(pytester, [replay])  # no BARAPI_* variable at all
    assert replayed.ret == 0, replayed.stdout.str() + replayed.stderr.str()
    replayed.stdout.fnmatch_lines(["*1 passed*"])
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1)


def test_the_guide_example_of_two_users_records_then_replays_without_any_password(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recorded with BOB_PASSWORD set; replayed in a CI job that has no password at all."""
    shutil.copy(EXAMPLES / "identities" / "test_two_users.py", pytester.path)
    # Who Bob's token cassette is for is named in the ini, not in the environment: a replay
    # without BARAPI_* finds the same file.
    pytester.makeini(
        f"""
        [pytest]
        barapi_url = {barapi_server.url}
        barapi_cassette = cassettes/barapi_token.yaml
        barapi_client_id = {CLIENT_ID}
        """
    )
    monkeypatch.setenv("BOB_PASSWORD", OTHER_PASSWORD)

    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (2, 2)

    go_offline(monkeypatch, httpserver)
    monkeypatch.delenv("BOB_PASSWORD")
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=1)
    assert httpserver.log == []  # nothing reached the server


def test_the_guide_example_ini_keeps_the_settings_that_are_not_secret(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """The URL, user and client id come from BARAPI_* here (the reference server's); the
    scope and the cassette from the ini."""
    shutil.copy(EXAMPLES / "settings" / "pytest.ini", pytester.path)
    shutil.copy(EXAMPLES / "recording" / "test_me_recorded.py", pytester.path)

    result = pytester.runpytest("--record-mode=once")

    result.assert_outcomes(passed=1)
    assert ", scope: read (ini), " in result.stdout.str()
    assert (pytester.path / "tests" / "cassettes" / "barapi_token.yaml").is_file()
    assert barapi_server.token_requests[0]["scope"] == "read"


def test_the_guide_example_ini_for_another_oauth_server(
    pytester: pytest.Pytester, authlib_server: AuthlibServer
) -> None:
    authlib_server.token_path = "/o/token/"
    shutil.copy(EXAMPLES / "oauth_servers" / "pytest.ini", pytester.path)
    shutil.copy(EXAMPLES / "quickstart" / "test_me.py", pytester.path)

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)
    assert ", client_auth: basic (ini), token_path: /o/token/ (ini), " in result.stdout.str()
    assert authlib_server.client_auth_used == ["client_secret_basic"]


def test_the_guide_example_of_masking_a_value_of_your_own(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """The signed URL the API answered is masked in what the run prints (-rP: the report of a
    passing test, with its captured output)."""
    shutil.copy(EXAMPLES / "masking" / "test_download.py", pytester.path)

    result = pytester.runpytest("-rP")

    result.assert_outcomes(passed=1)
    (answer,) = barapi_server.sent
    signed_url = json.loads(answer)["signed_url"]
    signature = signed_url.rsplit("sig=", 1)[1]
    assert signature.startswith("fake-signature-")
    result.stdout.fnmatch_lines(["fetching ********"])
    output = result.stdout.str() + result.stderr.str()
    assert signature not in output
    assert signed_url not in output


def test_every_example_the_guide_includes_runs_here() -> None:
    """A file in docs/examples/ that no test runs could rot: each is named in this module."""
    source = Path(__file__).read_text(encoding="utf-8")
    examples = [p for p in EXAMPLES.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert examples
    for example in examples:
        named = " / ".join(f'"{part}"' for part in example.relative_to(EXAMPLES).parts)
        assert f"EXAMPLES / {named}" in source, f"no test runs docs/examples/{named}"
    # The example suite in examples/, which the guide includes too, has tests of its own.
    assert test_howto_run_the_examples.EXAMPLES == ROOT / "examples"


TROUBLESHOOTING = DOCS / "troubleshooting.md"
SOURCE = ROOT / "src" / "pytest_barapi"
# What a message holds that is not written in src/ as it reads: pytest's prefix of a usage
# error, Python's of an exception, and the longest timeout (LONGEST_TIMEOUT, formatted).
NOT_IN_SOURCE = {"ERROR: ", "TypeError: ", "86400"}
# A piece of a message shorter than this is matched only as a whole string of the source,
# and at most SHORT_IN_A_ROW such strings in a row: longer runs of short words (``body``,
# `` or ``, ``basic``) can spell a message the plugin no longer writes.
SHORTEST_PIECE = 12
SHORT_IN_A_ROW = 3


def rendered_lists() -> set[str]:
    """The lists the plugin's messages build at run time, as they write them: their words are
    too short to be looked up one by one."""
    from pytest_barapi.settings import _checked_client_auth

    with pytest.raises(pytest.UsageError) as refused:
        _checked_client_auth("digest", "cli")
    allowed = re.search(r"must be (.*); got 'digest'$", str(refused.value))
    assert allowed is not None, str(refused.value)
    return {allowed.group(1)}


def source_strings() -> set[str]:
    """Every string the plugin's source writes but its docstrings, f-strings cut at their
    fields, and each option as messages name it (``--barapi-url / BARAPI_URL``)."""
    from pytest_barapi.settings import OPTIONS

    strings = set(NOT_IN_SOURCE)
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # A string alone as a statement is a docstring: prose about messages, not a message.
        prose = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in prose
            ):
                strings.add(node.value)
    for option in OPTIONS.values():
        strings |= {option.flag, option.env, option.ini, option.where()}
    strings |= rendered_lists()
    return {string for string in strings if string}


def unwritten(piece: str, strings: set[str]) -> str | None:
    """What of ``piece`` (text between two fields of a documented message) the source does not
    write; None: all of it. ``piece`` must split into stretches that are each a whole string
    of the source, or a part of one at least SHORTEST_PIECE long, with no more than
    SHORT_IN_A_ROW shorter ones in a row."""
    written = "\0".join(strings)
    # reach[i]: the longest stretch from i that some string holds (a part of a part is held
    # too, so reach[i + 1] >= reach[i] - 1).
    reach = [0] * (len(piece) + 1)
    for i in range(len(piece)):
        n = max(reach[i - 1] - 1, 0) if i else 0
        while i + n < len(piece) and piece[i : i + n + 1] in written:
            n += 1
        reach[i] = n
    # fits[i][run]: piece[i:] splits into such stretches, after ``run`` short ones in a row.
    fits = [[False] * (SHORT_IN_A_ROW + 1) for _ in piece] + [[True] * (SHORT_IN_A_ROW + 1)]
    for i in range(len(piece) - 1, -1, -1):
        for run in range(SHORT_IN_A_ROW + 1):
            fits[i][run] = any(
                fits[j][0]
                if j - i >= SHORTEST_PIECE
                else run < SHORT_IN_A_ROW and piece[i:j] in strings and fits[j][run + 1]
                for j in range(i + 1, i + reach[i] + 1)
            )
    if fits[0][0]:
        return None
    fitting = (i for i in range(len(piece) + 1) if any(fits[i]))
    return piece[: max(fitting, default=len(piece))]


def documented_messages() -> list[str]:
    lines = [line for block in fenced(TROUBLESHOOTING, "text") for line in block.splitlines()]
    return [line for line in lines if line.strip()]


def test_each_message_the_troubleshooting_page_lists_is_the_plugins() -> None:
    """Reworded in src/, a message here fails this test until the page says it anew."""
    strings = source_strings()
    messages = documented_messages()
    assert len(messages) > 50
    for message in messages:
        for piece in re.split(r"\{[^}]*\}", message):
            assert unwritten(piece, strings) is None, f"not in src/: {piece!r} of {message!r}"


def test_a_reworded_message_would_be_found() -> None:
    """The check above can fail: a word changed, an order swapped, a message made up."""
    strings = source_strings()
    assert unwritten("missing credentials, no request sent: set ", strings) is None
    assert unwritten("missing credentials, nothing sent: set ", strings) is not None
    assert unwritten("the grant was refused by the token endpoint: ", strings) is not None
    current = ") must be body, basic, none, client_secret_post or client_secret_basic; got "
    assert unwritten(current, strings) is None
    # Stale since none and the standard names were added: each word is still in src/.
    assert unwritten(") must be body or basic; got ", strings) is not None
    assert unwritten(") must be body or digest; got ", strings) is not None


# The calls that make a message: a failure a test sees, a usage error at start-up, a
# TypeError the user's own code meets.
MESSAGE_CALLS = {"Failure", "UsageError", "TypeError"}


def written_pieces(node: ast.AST, functions: dict[str, ast.FunctionDef]) -> Iterator[str]:
    """The text a message's expression writes out as it stands (f-strings cut at their
    fields), through the module's own functions that build it (``_refusal(...)``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        for value in node.values:
            yield from written_pieces(value, functions)
    elif isinstance(node, (ast.Tuple, ast.List)):
        for element in node.elts:
            yield from written_pieces(element, functions)
    elif isinstance(node, ast.BinOp):
        yield from written_pieces(node.left, functions)
        yield from written_pieces(node.right, functions)
    elif isinstance(node, ast.Starred):
        yield from written_pieces(node.value, functions)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        builder = functions.pop(node.func.id, None)  # popped: each is followed once
        for returned in ast.walk(builder) if builder else ():
            if isinstance(returned, ast.Return) and returned.value is not None:
                yield from written_pieces(returned.value, functions)


def unlisted_messages(source: str, page: str) -> list[tuple[int, str]]:
    """The messages ``source`` makes that ``page`` does not list: the line of each, and its
    longest piece. A message is listed when one of its pieces at least SHORTEST_PIECE long
    is on the page; one written only in short pieces between fields cannot be looked up."""
    tree = ast.parse(source)
    unlisted = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        called = node.func
        name = getattr(called, "id", None) or getattr(called, "attr", None)
        if name not in MESSAGE_CALLS:
            continue
        functions = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        pieces = [piece.strip() for piece in written_pieces(node.args[0], functions)]
        pieces = [piece for piece in pieces if len(piece) >= SHORTEST_PIECE]
        if pieces and not any(piece in page for piece in pieces):
            unlisted.append((node.lineno, max(pieces, key=len)))
    return sorted(unlisted)


def test_each_message_of_the_plugin_is_on_the_troubleshooting_page() -> None:
    """The other way round: a message added to src/ fails this test until the page lists it."""
    page = TROUBLESHOOTING.read_text(encoding="utf-8")
    unlisted = {
        f"{path.name}:{line}": piece
        for path in sorted(SOURCE.glob("*.py"))
        for line, piece in unlisted_messages(path.read_text(encoding="utf-8"), page)
    }
    assert unlisted == {}


def test_a_message_missing_from_the_page_would_be_found() -> None:
    """The check above can fail: a new message, direct or built by a function, is caught."""
    page = TROUBLESHOOTING.read_text(encoding="utf-8")
    source = """
def _reason(url):
    return f"{url} answered with a reason nobody documented"

def decide(url):
    if url:
        return Failure(("missing credentials, no request sent: set ", Setting("user")))
    if not url:
        return Failure(_reason(url))
    raise pytest.UsageError(f"barapi: {url} is a setting nobody documented")
"""
    assert unlisted_messages(source, page) == [
        (9, "answered with a reason nobody documented"),
        (10, "is a setting nobody documented"),
    ]


def without_comments(code: str) -> list[str]:
    return [re.sub(r"\s+#\s.*$", "", line) for line in code.strip().splitlines()]


def test_readmes_first_test_is_the_quickstarts_which_runs() -> None:
    """README shows the test the quickstart runs (test_the_quickstart_runs_as_written)."""
    (first,) = fenced(README, "python")
    example = (EXAMPLES / "quickstart" / "test_me.py").read_text(encoding="utf-8")
    assert without_comments(first) == without_comments(example)
