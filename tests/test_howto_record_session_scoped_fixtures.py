"""How a session-scoped fixture's requests are recorded and replayed: the cassette of the run.

pytest-recording's cassettes belong to a test, so what a session-scoped fixture sends through
``barapi_session`` (reading ``/v1/me`` once for the run, say) goes to a cassette of the run
next to the token cassette (``barapi_token.yaml`` -> ``barapi_token.run.yaml``), recorded and
replayed under the same ``--record-mode``. Token and API requests are counted at the server.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import unset_barapi_env
from tests.reference_server import ReferenceServer

RUN_CASSETTE = "cassettes/barapi_token.run.yaml"

SESSION_FIXTURE = """
import pytest

@pytest.fixture(scope="session")
def me(barapi_session):
    response = barapi_session.get("/v1/me")
    assert response.status_code == 200, response.text
    yield response.json()
    # Teardown requests are the run's too.
    assert barapi_session.get("/v1/me", params={"at": "teardown"}).status_code == 200
"""

TESTS_OF_THE_FIXTURE = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_me_once_for_the_run(me, n):
    assert me["user"] == "alice@example.test"
"""


@pytest.fixture
def suite_with_a_session_fixture(user_suite: pytest.Pytester) -> pytest.Pytester:
    user_suite.makeconftest(SESSION_FIXTURE)
    user_suite.makepyfile(test_run=TESTS_OF_THE_FIXTURE)
    return user_suite


@pytest.fixture
def recorded(
    suite_with_a_session_fixture: pytest.Pytester, barapi_server: ReferenceServer
) -> pytest.Pytester:
    """The suite recorded once with credentials: token, test_me, and the fixture's requests."""
    suite_with_a_session_fixture.runpytest("--record-mode=once").assert_outcomes(passed=5)
    # One exchange; test_me's call, and the fixture's two (setup and teardown).
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1 + 2)
    return suite_with_a_session_fixture


def test_the_fixture_is_recorded_beside_the_token_cassette_without_secrets(
    recorded: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    text = (recorded.path / RUN_CASSETTE).read_text()
    interactions = yaml.safe_load(text)["interactions"]
    assert [i["request"]["uri"] for i in interactions] == [
        f"{barapi_server.url}/v1/me",
        f"{barapi_server.url}/v1/me?at=teardown",
    ]
    # Sent with the live token (barapi answered 200), written with the placeholder.
    for interaction in interactions:
        assert interaction["request"]["headers"]["Authorization"] == [
            "Bearer placeholder-access-token"
        ]
        assert interaction["response"]["status"]["code"] == 200
    assert barapi_server.issued_secrets()
    for secret in barapi_server.issued_secrets():
        assert secret not in text


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two workers"])
def test_offline_the_fixture_replays_and_nothing_reaches_the_server(
    recorded: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    workers: list[str],
) -> None:
    unset_barapi_env(monkeypatch)  # no credentials: the ini still names the URL
    requests_before = len(httpserver.log)
    cassette_before = (recorded.path / RUN_CASSETTE).read_bytes()

    result = recorded.runpytest("--record-mode=none", "--block-network", *workers)

    result.assert_outcomes(passed=5)
    assert len(httpserver.log) == requests_before  # zero requests reached the server
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 3)
    assert (recorded.path / RUN_CASSETTE).read_bytes() == cassette_before


def test_offline_a_fixture_never_recorded_reaches_nothing_and_says_how_to_record(
    suite_with_a_session_fixture: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token and test_me were recorded before the fixture existed."""
    suite = suite_with_a_session_fixture
    (suite.path / "test_run.py").unlink()
    suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    suite.makepyfile(test_run=TESTS_OF_THE_FIXTURE)
    unset_barapi_env(monkeypatch)
    requests_before = len(httpserver.log)

    result = suite.runpytest("--record-mode=none", "--block-network", "-p", "no:randomly")

    result.assert_outcomes(passed=2, errors=3)
    message = (
        f"barapi: GET {barapi_server.url}/v1/me, sent outside any test's cassette (a "
        "session-scoped fixture, say), is not in the cassette of the run "
        f"{RUN_CASSETTE} (--record-mode=none); no request sent: record it (with the "
        "credentials set, which recording needs): pytest --record-mode=once, or send every "
        "request live: pytest --disable-recording"
    )
    assert result.outlines.count(message) == 3  # one line per test, no traceback
    output = "\n".join(result.outlines + result.errlines)
    # Shown once per test, not chained to the exception it replaces.
    assert output.count(message.removeprefix("barapi: ")) == 3
    assert "During handling" not in output
    assert len(httpserver.log) == requests_before
    assert not (suite.path / RUN_CASSETTE).exists()


def test_under_record_mode_none_a_fixture_never_recorded_is_refused_with_credentials_too(
    suite_with_a_session_fixture: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """pytest-recording's default mode only replays, as for a test marked vcr whose cassette
    lacks a request: credentials set change nothing, no live request, nothing recorded."""
    suite = suite_with_a_session_fixture
    (suite.path / "test_run.py").unlink()
    suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    suite.makepyfile(test_run=TESTS_OF_THE_FIXTURE)
    before = (barapi_server.token_request_count, barapi_server.api_requests)

    result = suite.runpytest("-p", "no:randomly")  # --record-mode=none, credentials set

    result.assert_outcomes(passed=2, errors=3)
    assert (
        result.outlines.count(
            f"barapi: GET {barapi_server.url}/v1/me, sent outside any test's cassette (a "
            "session-scoped fixture, say), is not in the cassette of the run "
            f"{RUN_CASSETTE} (--record-mode=none); no request sent: record it (with the "
            "credentials set, which recording needs): pytest --record-mode=once, or send every "
            "request live: pytest --disable-recording"
        )
        == 3
    )
    assert (barapi_server.token_request_count, barapi_server.api_requests) == before
    assert not (suite.path / RUN_CASSETTE).exists()


def test_under_xdist_the_run_cassette_is_not_recorded(
    suite_with_a_session_fixture: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """Two workers would each write their own requests only: record once without -n."""
    result = suite_with_a_session_fixture.runpytest("--record-mode=once", "-n", "2")

    result.assert_outcomes(passed=2, errors=3)
    result.stdout.fnmatch_lines(
        [
            f"*barapi: GET {barapi_server.url}/v1/me, sent outside any test's cassette (a "
            "session-scoped fixture, say), is not in the cassette of the run "
            f"{RUN_CASSETTE}, and pytest-xdist workers do not record it (each would write "
            "its own requests only); no request sent: record it once without -n (pytest "
            "--record-mode=once), then replay with -n, or send every request live: pytest "
            "--disable-recording"
        ]
    )
    assert "During handling" not in "\n".join(result.outlines + result.errlines)
    assert barapi_server.api_requests == 1  # test_me's only
    assert not (suite_with_a_session_fixture.path / RUN_CASSETTE).exists()


def test_with_recording_disabled_the_fixture_is_live(
    recorded: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    recorded.runpytest("--disable-recording").assert_outcomes(passed=5)

    assert barapi_server.api_requests == 3 + 3  # test_me and the fixture's two, live


def test_rewrite_records_the_fixture_afresh_without_doubling_the_cassette(
    recorded: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    recorded.runpytest("--record-mode=rewrite").assert_outcomes(passed=5)

    assert barapi_server.api_requests == 3 + 3  # all of it sent again, live
    interactions = yaml.safe_load((recorded.path / RUN_CASSETTE).read_text())["interactions"]
    assert len(interactions) == 2  # started over, not appended to the last run's


def test_new_episodes_adds_what_a_fixture_sends_that_is_not_recorded(
    recorded: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    recorded.makeconftest(
        SESSION_FIXTURE
        + """
@pytest.fixture(scope="module")
def me_again(barapi_session):
    return barapi_session.get("/v1/me", params={"again": "1"}).json()
"""
    )
    recorded.makepyfile(test_again="def test_again(me_again):\n    assert me_again['user']\n")

    recorded.runpytest("--record-mode=new_episodes").assert_outcomes(passed=6)

    assert barapi_server.api_requests == 3 + 1  # only the new request reached barapi
    interactions = yaml.safe_load((recorded.path / RUN_CASSETTE).read_text())["interactions"]
    assert interactions[-1]["request"]["uri"].endswith("/v1/me?again=1")


PARTNER_FIXTURE = """
import pytest

@pytest.fixture(scope="{scope}")
def vcr_config():
    def drop_server(response):
        response["headers"].pop("Server", None)
        return response

    return {{
        "filter_headers": ["x-partner-key"],
        "filter_query_parameters": ["api_key"],
        "before_record_response": drop_server,
    }}

def partner_get(session, **params):
    return session.get(
        "/v1/me",
        params={{"api_key": "PARTNER-QUERY-SECRET", **params}},
        headers={{"X-Partner-Key": "PARTNER-HEADER-SECRET"}},
    )

@pytest.fixture(scope="session")
def me(barapi_session):
    response = partner_get(barapi_session)
    assert response.status_code == 200, response.text
    yield response.json()
    assert partner_get(barapi_session, at="teardown").status_code == 200
"""


@pytest.mark.parametrize("scope", ["session", "module", "function"])
def test_your_vcr_config_filters_the_cassette_of_the_run_as_it_filters_your_tests(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    scope: str,
) -> None:
    """The headers and query parameters your ``vcr_config`` filters, and what its
    ``before_record_*`` hooks drop, are not in the cassette of the run either; the replay
    matches the filtered requests, offline."""
    user_suite.makeconftest(PARTNER_FIXTURE.format(scope=scope))
    user_suite.makepyfile(test_run=TESTS_OF_THE_FIXTURE)
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=5)
    assert barapi_server.api_requests == 1 + 2

    text = (user_suite.path / RUN_CASSETTE).read_text()
    for secret in ("PARTNER-QUERY-SECRET", "PARTNER-HEADER-SECRET", "api_key", "X-Partner-Key"):
        assert secret not in text
    interactions = yaml.safe_load(text)["interactions"]
    assert [i["request"]["uri"] for i in interactions] == [
        f"{barapi_server.url}/v1/me",
        f"{barapi_server.url}/v1/me?at=teardown",
    ]
    assert [sorted(i["response"]["headers"]) for i in interactions] == [
        ["Connection", "Content-Length", "Content-Type", "Date"]
    ] * 2

    unset_barapi_env(monkeypatch)
    requests_before = len(httpserver.log)
    user_suite.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=5)
    assert len(httpserver.log) == requests_before


# pytest-recording hands each test's VCR to pytest_recording_configure: a matcher of the
# user's, registered there and named in vcr_config, works for the cassette of the run too.
YOUR_OWN_MATCHER = """
import pytest

def pytest_recording_configure(config, vcr):
    def same_path(r1, r2):
        assert r1.path == r2.path
    vcr.register_matcher("same_path", same_path)

@pytest.fixture(scope="session")
def vcr_config():
    return {"match_on": ["method", "same_path"]}
"""


def test_a_matcher_you_register_for_pytest_recording_matches_in_the_cassette_of_the_run(
    suite_with_a_session_fixture: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    suite_with_a_session_fixture.makeconftest(SESSION_FIXTURE + YOUR_OWN_MATCHER)
    suite_with_a_session_fixture.runpytest("--record-mode=once").assert_outcomes(passed=5)
    # A recording run sends every request it records: the fixture's teardown
    # (/v1/me?at=teardown) matches its setup's recording by path, and is sent all the same.
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 3)
    unset_barapi_env(monkeypatch)

    result = suite_with_a_session_fixture.runpytest("--record-mode=none", "--block-network")

    # Matched by path, each recording played in turn: the setup's, then the teardown's.
    result.assert_outcomes(passed=5)
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 3)


# A before_record_request that returns None leaves the request out of the cassette of the run:
# vcrpy sends it, so it needs (and gets) a live token.
LEAVES_ME_OUT = """
import pytest

def leave_me_out(request):
    return None if request.path.endswith("/v1/me") else request

@pytest.fixture(scope="session")
def vcr_config():
    return {"before_record_request": leave_me_out}
"""


def test_a_fixture_request_your_vcr_config_leaves_out_is_sent_with_a_live_token(
    suite_with_a_session_fixture: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    suite_with_a_session_fixture.makeconftest(SESSION_FIXTURE + LEAVES_ME_OUT)
    suite_with_a_session_fixture.runpytest("--record-mode=once").assert_outcomes(passed=5)

    result = suite_with_a_session_fixture.runpytest()  # --record-mode=none: token replayed

    result.assert_outcomes(passed=5)
    # Every /v1/me call (the fixture's setup and teardown, test_me's: the hook sees the path
    # without its query) is left out: each is sent both times, the second time with one live
    # token, and barapi accepts it.
    assert barapi_server.grant_types() == ["password", "password"]
    assert barapi_server.api_requests == 3 + 3


# The plugin as installed (its entry point), and named by its module with autoload off.
LOADED = {
    "entry point": [],
    "-p module": ["-p", "pytest_barapi.plugin", "-p", "pytest_recording.plugin"],
}


@pytest.mark.parametrize("loaded", LOADED.values(), ids=LOADED.keys())
def test_a_recording_of_the_run_the_guard_refuses_is_not_written_and_says_so(
    suite_with_a_session_fixture: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    loaded: list[str],
) -> None:
    """A password of 8 characters that is a word of the server's answers (``Server:
    Werkzeug/…``): no placeholder can take its place there, so the recording is refused, at
    the fixture's request: the tests that need it error at set-up."""
    barapi_server.users["alice@example.test"] = "Werkzeug"
    monkeypatch.setenv("BARAPI_PASSWORD", "Werkzeug")
    if loaded:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    result = suite_with_a_session_fixture.runpytest("--record-mode=once", *loaded)

    # test_token passes; test_me's own cassette is refused at its teardown; the 3 tests of
    # the fixture error at its set-up.
    result.assert_outcomes(passed=2, errors=4)

    assert (
        f"barapi: refusing to keep the cassette {RUN_CASSETTE}: it holds the password in "
        "interaction 1, response header Server, where no placeholder can take its place without "
        "changing what is around it; it was not written. Keep that secret out of what the test "
        "sends and receives there. It had no cassette before."
    ) in result.outlines
    assert not (suite_with_a_session_fixture.path / RUN_CASSETTE).exists()


def test_a_refused_re_recording_of_the_run_gives_the_committed_cassette_back(
    suite_with_a_session_fixture: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each request of the run saves the file: the fixture's first call saves over the
    committed cassette before its second is refused, and the refusal puts it back."""
    barapi_server.users["alice@example.test"] = "Koala-77x"
    monkeypatch.setenv("BARAPI_PASSWORD", "Koala-77x")
    suite_with_a_session_fixture.runpytest("--record-mode=once").assert_outcomes(passed=5)
    committed = (suite_with_a_session_fixture.path / RUN_CASSETTE).read_bytes()
    # A new call whose path holds the password: no placeholder fits there.
    suite_with_a_session_fixture.makeconftest(
        SESSION_FIXTURE.replace(
            "    yield response.json()\n",
            '    barapi_session.get("/v1/check/Koala-77x/now")\n    yield response.json()\n',
        )
    )

    result = suite_with_a_session_fixture.runpytest("--record-mode=rewrite")

    assert (
        f"barapi: refusing to keep the cassette {RUN_CASSETTE}: it holds the password in "
        "interaction 2, request URI, where no placeholder can take its place without changing "
        "what is around it; it was not written. Keep that secret out of what the test sends "
        "and receives there. The cassette it had before is back as it was."
    ) in result.outlines
    assert (suite_with_a_session_fixture.path / RUN_CASSETTE).read_bytes() == committed


# A fixture set up after the refused one, by a test that runs later: its request would save
# the file again, over what the refusal put back.
LATER_FIXTURE = """
@pytest.fixture(scope="module")
def later(barapi_session):
    return barapi_session.get("/v1/later").json()
"""

TESTS_OF_THE_LATER_FIXTURE = """
def test_later(later):
    assert later["user"] == "alice@example.test"
"""


@pytest.mark.parametrize("record_mode", ["rewrite", "once"])
def test_after_a_refusal_the_run_records_nothing_more_into_the_cassette_of_the_run(
    suite_with_a_session_fixture: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    record_mode: str,
) -> None:
    """The refusal puts the file back as the run found it (the committed cassette under
    rewrite, none under once with no file before); a later fixture's request is not sent, and
    says why, rather than write the file again: at the end it is what the refusal said."""
    barapi_server.users["alice@example.test"] = "Koala-77x"
    monkeypatch.setenv("BARAPI_PASSWORD", "Koala-77x")
    path = suite_with_a_session_fixture.path / RUN_CASSETTE
    if record_mode == "rewrite":
        suite_with_a_session_fixture.runpytest("--record-mode=once").assert_outcomes(passed=5)
        committed: bytes | None = path.read_bytes()
        ending = "The cassette it had before is back as it was."
    else:
        committed = None
        ending = "It had no cassette before; what this run wrote there is removed."
    suite_with_a_session_fixture.makeconftest(
        SESSION_FIXTURE.replace(
            "    yield response.json()\n",
            '    barapi_session.get("/v1/check/Koala-77x/now")\n    yield response.json()\n',
        )
        + LATER_FIXTURE
    )
    suite_with_a_session_fixture.makepyfile(test_uses_later=TESTS_OF_THE_LATER_FIXTURE)

    result = suite_with_a_session_fixture.runpytest(f"--record-mode={record_mode}")

    assert (path.read_bytes() if path.exists() else None) == committed
    assert (
        f"barapi: refusing to keep the cassette {RUN_CASSETTE}: it holds the password in "
        "interaction 2, request URI, where no placeholder can take its place without changing "
        f"what is around it; it was not written. Keep that secret out of what the test sends "
        f"and receives there. {ending}"
    ) in result.outlines
    assert (
        f"barapi: GET {barapi_server.url}/v1/later, sent outside any test's cassette (a "
        "session-scoped fixture, say), is not sent: the cassette of the run "
        f"{RUN_CASSETTE} was refused earlier in this run (the refusal above says why), and the "
        "run records nothing more into it: fix what the refusal names, then record again: "
        f"pytest --record-mode={record_mode}, or send every request live: pytest "
        "--disable-recording"
    ) in result.outlines


# Two session fixtures that each create a project, and a module fixture that two modules use
# (each module creates its own and deletes it after): requests that match one another (vcrpy
# matches on method and URL), which a run records one by one and a replay plays in turn.
PROJECT_FIXTURES = """
import json
import pytest

@pytest.fixture(scope="session")
def project_a(barapi_session):
    return barapi_session.post("/v1/projects", json={"name": "a"}).json()["id"]

@pytest.fixture(scope="session")
def project_b(barapi_session):
    return barapi_session.post("/v1/projects", json={"name": "b"}).json()["id"]

@pytest.fixture(scope="module")
def project(barapi_session):
    response = barapi_session.post("/v1/projects", json={"name": "module"})
    assert response.status_code == 201, response.text
    yield response.json()["id"]
    assert barapi_session.delete(f"/v1/projects/{response.json()['id']}").status_code == 204

def received(what):
    with open("received.txt", "a") as file:
        file.write(json.dumps(what) + "\\n")
"""

TESTS_OF_THE_PROJECTS = """
import pytest
from conftest import received

def test_two_projects(project_a, project_b):
    received([project_a, project_b])
    assert project_a != project_b

@pytest.mark.vcr
def test_the_module_project(barapi_session, project):
    response = barapi_session.get(f"/v1/projects/{project}")
    received([project, response.status_code])
    assert response.status_code == 200, response.text
"""


class Projects:
    """An API of projects beside the reference server's: create, read, delete."""

    def __init__(self, barapi_server: ReferenceServer) -> None:
        self.created: list[int] = []
        self.deleted: list[int] = []
        server = barapi_server.httpserver
        server.expect_request("/v1/projects", method="POST").respond_with_handler(self._create)
        server.expect_request(re.compile(r"/v1/projects/\d+")).respond_with_handler(self._one)

    def _create(self, request: Request) -> Response:
        self.created.append(len(self.created) + 1)
        return Response(json.dumps({"id": self.created[-1]}), 201, content_type="application/json")

    def _one(self, request: Request) -> Response:
        number = int(request.path.rsplit("/", 1)[1])
        if request.method == "DELETE":
            self.deleted.append(number)
            return Response("", 204)
        if number in self.created and number not in self.deleted:
            return Response(json.dumps({"id": number}), content_type="application/json")
        return Response('{"error": "no such project"}', 404, content_type="application/json")


@pytest.fixture
def projects_suite(user_suite: pytest.Pytester, barapi_server: ReferenceServer) -> pytest.Pytester:
    user_suite.makeconftest(PROJECT_FIXTURES)
    user_suite.makepyfile(test_a=TESTS_OF_THE_PROJECTS, test_b=TESTS_OF_THE_PROJECTS)
    return user_suite


def test_a_recording_run_sends_every_request_it_records_and_the_replay_plays_each_in_turn(
    projects_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    projects = Projects(barapi_server)
    received = projects_suite.path / "received.txt"

    projects_suite.runpytest("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=6)

    # Each fixture's POST reached barapi (two for the session, one per module), and each
    # module's DELETE: none was answered from what the run had just recorded.
    assert (projects.created, projects.deleted) == ([1, 2, 3, 4], [3, 4])
    recorded = received.read_text()
    assert recorded.splitlines() == ["[1, 2]", "[3, 200]", "[1, 2]", "[4, 200]"]

    received.unlink()
    unset_barapi_env(monkeypatch)
    requests_before = len(httpserver.log)
    result = projects_suite.runpytest("--record-mode=none", "--block-network", "-p", "no:randomly")

    result.assert_outcomes(passed=6)
    assert len(httpserver.log) == requests_before  # zero requests reached the server
    assert received.read_text() == recorded  # the tests received what they did when recorded

    # Each fixture plays what it recorded, whatever ran before it: test_b alone gets the
    # project its module created when recording (4), not the first module's (3).
    received.unlink()
    only_b = projects_suite.runpytest("--record-mode=none", "--block-network", "test_b.py")

    only_b.assert_outcomes(passed=2)
    assert received.read_text().splitlines() == ["[1, 2]", "[4, 200]"]
    assert len(httpserver.log) == requests_before


# Two directories whose conftest.py each define a session fixture named ``project``.
PROJECT_OF_A_DIRECTORY = """
import pytest

@pytest.fixture(scope="session")
def project(barapi_session):
    return barapi_session.post("/v1/projects", json={{"name": "{name}"}}).json()["id"]
"""

TEST_OF_A_DIRECTORY = """
def test_project(project):
    with open("received.txt", "a") as file:
        file.write(f"{name} {{project}}\\n")
"""


def test_two_session_fixtures_of_one_name_in_two_conftests_each_play_their_own(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cassette of the run names a fixture by where it is defined too (``project from
    b``): run alone, b's fixture gets the project it created when recording, not a's."""
    projects = Projects(barapi_server)
    for name in ("a", "b"):
        user_suite.mkpydir(name).joinpath("__init__.py").unlink()
        user_suite.path.joinpath(name, "conftest.py").write_text(
            PROJECT_OF_A_DIRECTORY.format(name=name)
        )
        user_suite.path.joinpath(name, f"test_in_{name}.py").write_text(
            TEST_OF_A_DIRECTORY.format(name=name)
        )
    received = user_suite.path / "received.txt"
    user_suite.runpytest("--record-mode=once", "-p", "no:randomly", "a", "b").assert_outcomes(
        passed=2
    )
    assert projects.created == [1, 2]
    assert received.read_text().splitlines() == ["a 1", "b 2"]
    senders = yaml.safe_load((user_suite.path / RUN_CASSETTE).read_text())["barapi_sent_by"]
    assert senders == ["project from a", "project from b"]

    received.unlink()
    unset_barapi_env(monkeypatch)
    requests_before = len(httpserver.log)
    result = user_suite.runpytest("--record-mode=none", "--block-network", "b")

    result.assert_outcomes(passed=1)
    assert received.read_text().splitlines() == ["b 2"]
    assert len(httpserver.log) == requests_before


def test_two_workers_replay_each_fixture_s_recording_in_turn(
    projects_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each worker sets up the session fixtures and its modules' fixtures itself, and plays
    the recordings from the first, in order, as the recording run made them."""
    Projects(barapi_server)
    projects_suite.runpytest("--record-mode=once", "-p", "no:randomly").assert_outcomes(passed=6)
    unset_barapi_env(monkeypatch)
    requests_before = len(httpserver.log)

    result = projects_suite.runpytest("--record-mode=none", "--block-network", "-n", "2")

    result.assert_outcomes(passed=6)
    assert len(httpserver.log) == requests_before


# A fixture that waits for a job: it asks until the answer changes. Recorded, each answer is
# played in turn, so the replay ends as the recording did (one answer played as often as
# asked would make it ask forever).
POLLING_FIXTURE = """
import pytest

@pytest.fixture(scope="session")
def job(barapi_session):
    for _ in range(10):
        job = barapi_session.get("/v1/jobs/7").json()
        if job["state"] == "done":
            return job
    raise AssertionError("the job never finished")

def test_job(job):
    assert job["state"] == "done"
"""


def test_a_fixture_that_polls_gets_each_recorded_answer_in_turn(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    states = iter(["queued", "running", "done"])
    barapi_server.httpserver.expect_request("/v1/jobs/7").respond_with_handler(
        lambda request: Response(json.dumps({"state": next(states)}), mimetype="application/json")
    )
    user_suite.makepyfile(test_job=POLLING_FIXTURE)
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=3)
    unset_barapi_env(monkeypatch)
    requests_before = len(httpserver.log)

    result = user_suite.runpytest("--record-mode=none", "--block-network")

    result.assert_outcomes(passed=3)
    assert len(httpserver.log) == requests_before


def test_under_xdist_rewrite_does_not_replay_the_last_recording_of_the_run(
    projects_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """Workers do not record the cassette of the run, and replaying it where you asked for a
    new recording would hand the tests stale answers (which their cassettes would record)."""
    projects = Projects(barapi_server)
    projects_suite.runpytest("--record-mode=once").assert_outcomes(passed=6)
    cassettes = {p: p.read_bytes() for p in (projects_suite.path / "cassettes").rglob("*.yaml")}
    assert len(cassettes) == 5  # the token's, the run's, test_me's, test_the_module_project's two

    result = projects_suite.runpytest("--record-mode=rewrite", "-n", "2")

    result.assert_outcomes(passed=2, errors=4)
    assert (
        f"barapi: not recording the cassette of the run {RUN_CASSETTE} (--record-mode=rewrite): "
        "pytest-xdist workers do not record it (each would write its own requests only), nor "
        "replay the last recording where you ask for a new one; POST "
        f"{barapi_server.url}/v1/projects, sent outside any test's cassette (a session-scoped "
        "fixture, say), is not sent: record it once without -n (pytest --record-mode=rewrite), "
        "then replay with -n, or send every request live: pytest --disable-recording"
    ) in result.outlines
    assert "During handling" not in "\n".join(result.outlines + result.errlines)
    assert (projects.created, projects.deleted) == ([1, 2, 3, 4], [3, 4])  # nothing new sent
    # The tests that needed the fixture never ran: their cassettes and the run's are as they
    # were (the token and test_me are recorded afresh, as asked).
    for path, before in cassettes.items():
        if path.name not in ("barapi_token.yaml", "test_me.yaml"):
            assert path.read_bytes() == before, path
