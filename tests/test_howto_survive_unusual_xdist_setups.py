"""pytest-xdist hands the plugin's hooks whatever its callers build: none of them fails a run.

pytest-xdist's own tests (and other plugins) start workers from node managers whose specs are
not execnet specs, and from configs that were parsed but never configured. The plugin's hook
at each worker's set-up takes them as they are: a spec it cannot read counts as a worker that
may run anywhere, with settings of its own (it gets its line to the board, and does not
record), and a config without a barapi run has no line to give. These drive pytest-xdist's
own classes with real execnet gateways, as its tests do; ``.ci/pytest-xdist-suite`` runs those
tests.
"""

from __future__ import annotations

import uuid
from typing import Any

import execnet
import pytest
from xdist.workermanage import NodeManager, WorkerController

from tests.conftest import point_barapi_at

PLAIN_TEST = "def test_plain():\n    assert 1 + 1 == 2\n"
WAIT = 60.0  # seconds: a worker that has not answered by then is stuck
CONFIGURED = {"no barapi option set": False, "BARAPI_* credentials set": True}


class StandInNodeManager:
    """What pytest-xdist's own tests hand a worker: a run id, and specs that are not execnet's."""

    testrunuid = uuid.uuid4().hex
    specs = (0, 1)


def events_until(node: WorkerController, last: str) -> list[tuple[str, dict[str, Any]]]:
    """The worker's events, up to and including the first named ``last``."""
    events = []
    while not events or events[-1][0] != last:
        events.append(node.channel.receive(timeout=WAIT))
    return events


@pytest.mark.parametrize("configured", CONFIGURED.values(), ids=CONFIGURED.keys())
def test_a_worker_of_a_node_manager_without_execnet_specs_runs_its_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, configured: bool
) -> None:
    if configured:
        point_barapi_at("https://barapi.example.test", monkeypatch)
    pytester.makepyfile(PLAIN_TEST)
    gateway = execnet.makegateway("execmodel=main_thread_only//popen")
    node = WorkerController(
        nodemanager=StandInNodeManager,  # type: ignore[arg-type]
        gateway=gateway,
        config=pytester.parseconfigure(),
        putevent=None,  # type: ignore[arg-type]
    )
    try:
        node.setup()
        assert events_until(node, "collectionfinish")[0][0] == "workerready"
        node.sendcommand("runtests_all")
        node.sendcommand("shutdown")
        events = events_until(node, "workerfinished")
    finally:
        node.ensure_teardown()

    outcomes = [kwargs["data"]["outcome"] for name, kwargs in events if name == "testreport"]
    assert outcomes == ["passed", "passed", "passed"]  # set-up, call, teardown
    # Where a stand-in runs cannot be told: its worker may replay, never record.
    assert node.workerinput["barapi_sharing"]["may_record"] is False


@pytest.mark.parametrize("configured", CONFIGURED.values(), ids=CONFIGURED.keys())
@pytest.mark.parametrize(
    "specs",
    [["--tx", "popen"], ["--px", "popen//id=proxy", "--tx", "popen//via=proxy"]],
    ids=["local worker", "worker via a proxy"],
)
def test_a_node_manager_of_a_config_never_configured_sets_up_its_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, specs: list[str], configured: bool
) -> None:
    """No pytest_configure ran, so there is no barapi run: the workers start without a line."""
    if configured:
        point_barapi_at("https://barapi.example.test", monkeypatch)
    nodemanager = NodeManager(pytester.parseconfig(*specs))
    try:
        (node,) = nodemanager.setup_nodes(None)  # type: ignore[arg-type]
        assert events_until(node, "collectionfinish")[0][0] == "workerready"
        # A worker told to end ends at once; one left waiting is only killed after the node
        # manager's timeout (10 s).
        node.sendcommand("shutdown")
        events_until(node, "workerfinished")
    finally:
        nodemanager.teardown_nodes()
    assert "barapi_sharing" not in node.workerinput
