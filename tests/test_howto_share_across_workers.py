"""Under pytest-xdist, the workers of a run share one exchange per identity, and clean up."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from pytest_barapi.identity import Identity
from pytest_barapi.outcome import Failure, Outcome
from pytest_barapi.secrets import Secret
from pytest_barapi.sharing import SharedOutcomes
from pytest_barapi.token import BarapiToken
from tests import reference_server
from tests.reference_server import ReferenceServer

# Each test notes which worker ran it, so we know every worker needed the token.
TESTS_ON_EVERY_WORKER = """
    import os
    from pathlib import Path

    import pytest

    @pytest.mark.parametrize("n", range(20))
    def test_me(barapi_session, n):
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (Path(__file__).parent / "workers" / worker).touch()
        assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
    """


def files_left(pytester: pytest.Pytester) -> list[Path]:
    """Every file under the basetemp of the runs (pytester puts it next to the project)."""
    return [p for p in pytester.path.parent.glob("basetemp/**/*") if p.is_file()]


def test_every_worker_uses_the_one_exchange(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(TESTS_ON_EVERY_WORKER)
    pytester.mkdir("workers")
    result = pytester.runpytest("-n", "4")
    result.assert_outcomes(passed=20)
    assert len(list(pytester.path.joinpath("workers").iterdir())) == 4
    assert barapi_server.token_request_count == 1
    assert files_left(pytester) == []


def test_a_failed_exchange_is_shared_too(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_PASSWORD", "wrong-password-Wp1")
    pytester.makepyfile(TESTS_ON_EVERY_WORKER)
    result = pytester.runpytest("-n", "2")
    result.assert_outcomes(errors=20)
    assert barapi_server.token_request_count == 1
    message = (
        "barapi: the token endpoint refused the grant: invalid_grant (Invalid credentials "
        "given.), HTTP 400; check --barapi-user / BARAPI_USER, --barapi-password / "
        "BARAPI_PASSWORD"
    )
    # Each test's error report is that one line, from whichever worker ran it.
    assert result.outlines.count(message) == 20
    assert "Traceback" not in result.stdout.str()
    assert "wrong-password-Wp1" not in result.stdout.str()
    assert files_left(pytester) == []


def test_the_shared_files_are_private_and_keyed_by_the_run(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        import os
        import stat

        def test_files(barapi_session, tmp_path_factory):
            # The controller's basetemp, where the xdist docs share session-scoped data.
            shared = list(tmp_path_factory.getbasetemp().parent.glob("barapi-*"))
            assert [d.name for d in shared] == ["barapi-" + os.environ["PYTEST_XDIST_TESTRUNUID"]]
            assert stat.S_IMODE(shared[0].stat().st_mode) == 0o700
            files = list(shared[0].iterdir())
            assert files
            assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
            # Names tell nothing about who the token is for.
            assert not any("alice" in f.name for f in files)
        """
    )
    result = pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=1)
    assert files_left(pytester) == []


def test_workers_stay_lazy(pytester: pytest.Pytester, barapi_server: ReferenceServer) -> None:
    pytester.makepyfile(
        """
        def test_needs_barapi(barapi_session):
            pass

        def test_plain(tmp_path_factory):
            assert not list(tmp_path_factory.getbasetemp().parent.glob("barapi-*"))
        """
    )
    result = pytester.runpytest("-n", "2", "-m", "not barapi")
    result.assert_outcomes(passed=1)
    assert barapi_server.token_request_count == 0
    assert files_left(pytester) == []


@pytest.mark.parametrize("args", [["-p", "no:xdist"], []], ids=["no-xdist", "no-workers"])
def test_without_xdist_workers_nothing_goes_to_disk(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, args: list[str]
) -> None:
    pytester.makepyfile(
        """
        def test_me(barapi_session, tmp_path_factory):
            assert barapi_session.get("/v1/me").status_code == 200
            basetemp = tmp_path_factory.getbasetemp()
            assert not list(basetemp.glob("barapi-*"))
            assert not list(basetemp.parent.glob("barapi-*"))
        """
    )
    result = pytester.runpytest("-W", "error::pytest.PytestWarning", *args)
    result.assert_outcomes(passed=1)
    assert "hook" not in result.stdout.str() + result.stderr.str()
    assert barapi_server.token_request_count == 1
    assert files_left(pytester) == []


def test_workers_that_may_be_remote_exchange_for_themselves(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    # popen via a proxy gateway stands in for --tx ssh=...: the controller cannot know that
    # such a worker sees its files, so it does not share with it.
    pytester.makepyfile(TESTS_ON_EVERY_WORKER)
    pytester.mkdir("workers")
    result = pytester.runpytest(
        "--px", "popen//id=proxy//execmodel=thread", "--tx", "2*popen//via=proxy", "--dist", "load"
    )
    result.assert_outcomes(passed=20)
    assert len(list(pytester.path.joinpath("workers").iterdir())) == 2
    assert barapi_server.token_request_count == 2
    assert files_left(pytester) == []


ALICE = Identity(
    reference_server.USER,
    Secret(reference_server.PASSWORD),
    reference_server.CLIENT_ID,
    Secret(reference_server.CLIENT_SECRET),
)


def not_again() -> Outcome:
    raise AssertionError("another worker has decided: this one must not exchange")


def test_a_worker_adopts_what_another_decided_or_renewed(tmp_path: Path) -> None:
    """In this process, two workers' views of one run's sharing directory."""
    shared = SharedOutcomes(tmp_path / "barapi-run", run_key="fake-run-key", wait=5)
    first = BarapiToken("fake-access-1", "Bearer", 60)
    renewed = BarapiToken("fake-access-2", "Bearer", 60)

    assert shared.decide(ALICE, lambda: first) == first  # the first worker exchanges
    assert shared.decide(ALICE, not_again) == first  # the others read its token
    # A worker finds the token expiring or rejected: it renews, once.
    assert shared.decide(ALICE, lambda: renewed, stale=first) == renewed
    # Another worker, still holding the first token, adopts the renewed one.
    assert shared.decide(ALICE, not_again, stale=first) == renewed

    directory = tmp_path / "barapi-run"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(directory.iterdir())
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    assert not any("alice" in f.name for f in files)


def test_a_failure_is_settled_for_every_worker(tmp_path: Path) -> None:
    shared = SharedOutcomes(tmp_path / "barapi-run", run_key="fake-run-key", wait=5)
    refused = Failure("the token endpoint refused the grant: invalid_grant, HTTP 400", True)
    assert shared.decide(ALICE, lambda: refused) == refused
    assert shared.decide(ALICE, not_again) == refused
    stale = BarapiToken("fake-access-1", "Bearer", 60)
    assert shared.decide(ALICE, not_again, stale=stale) == refused


def test_a_sharing_directory_that_is_not_private_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "barapi-run"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    shared = SharedOutcomes(directory, run_key="fake-run-key", wait=5)
    assert shared.decide(ALICE, not_again) == Failure(
        f"cannot share the token between pytest-xdist workers: {directory} is not a directory "
        "private to this user; refusing to put tokens there"
    )


def test_no_worker_waits_forever_for_another(tmp_path: Path) -> None:
    shared = SharedOutcomes(tmp_path / "barapi-run", run_key="fake-run-key", wait=0.2)
    identity = ALICE
    holding, release = threading.Event(), threading.Event()

    def stuck_exchange() -> Failure:
        holding.set()
        release.wait(10)
        return Failure("never mind")

    holder = threading.Thread(target=shared.decide, args=(identity, stuck_exchange))
    holder.start()
    assert holding.wait(10)
    try:
        outcome = shared.decide(identity, lambda: Failure("a second exchange must not happen"))
    finally:
        release.set()
        holder.join()
    assert isinstance(outcome, Failure)
    assert outcome.message.startswith(
        "gave up after 0.2s waiting for another pytest-xdist worker's token exchange"
    )
    assert outcome.message.endswith("or raise --barapi-timeout / BARAPI_TIMEOUT")
