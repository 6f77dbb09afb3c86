"""Run every pytest-barapi benchmark and print the results as Markdown tables.

    python benchmarks/run.py            # the full run (several minutes on 2 cores)
    python benchmarks/run.py --quick    # fewer repetitions and sizes: proves it still runs

Needs the test extras (``pip install -e '.[test]'``): the exchange counts use the reference
OAuth server from ``tests/reference_server.py``. Every pytest run is a subprocess of this
interpreter. Figures are ratios (plugin / baseline) of interleaved measurements: the median,
and the interquartile range as the spread. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import exchanges
import large_output
import per_request
import per_test
import startup


@dataclass(frozen=True)
class Plan:
    startup_tests: int
    startup_pairs: int
    credential_pairs: int
    container_pairs: int
    count_instructions: bool
    request_rounds: int
    requests_per_round: int
    sizes: tuple[int, ...]
    workers: tuple[int, ...]
    replay_workers: tuple[int, ...]
    output_pairs: int
    output_bytes: int
    per_test_pairs: int
    per_test_tests: int
    # Off in the quick run: its figures mean nothing, it only shows that every part runs.
    warm_up: bool = True


FULL = Plan(
    startup_tests=startup.TESTS,
    startup_pairs=40,
    credential_pairs=20,
    container_pairs=20,
    count_instructions=True,
    request_rounds=21,
    requests_per_round=400,
    sizes=(1, 100, 1000),
    workers=(1, 2, 4),
    replay_workers=(0, 4),
    output_pairs=3,
    output_bytes=600_000,
    per_test_pairs=9,
    per_test_tests=2000,
)
# The smallest run of every part (the test suite's smoke test runs it).
QUICK = Plan(
    startup_tests=20,
    startup_pairs=1,
    credential_pairs=1,
    container_pairs=1,
    count_instructions=False,
    request_rounds=1,
    requests_per_round=10,
    sizes=(10,),
    workers=(2,),
    replay_workers=(0,),
    output_pairs=1,
    output_bytes=3_000,
    per_test_pairs=1,
    per_test_tests=10,
    warm_up=False,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for CI")
    options = parser.parse_args(argv)
    plan = QUICK if options.quick else FULL
    began = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="barapi-bench-") as tmp:
        workdir = Path(tmp)
        tests = plan.startup_tests
        started = startup.run(workdir, plan.startup_pairs, warm_up=plan.warm_up, tests=tests)
        with_credentials = startup.run(
            workdir, plan.credential_pairs, credentials=True, warm_up=plan.warm_up, tests=tests
        )
        in_container = startup.run(workdir, plan.container_pairs, container=True, tests=tests)
        skipped = "skipped (--quick)"
        counted = startup.instructions(workdir) if plan.count_instructions else skipped
        counted_in_container = (
            startup.instructions(workdir, container=True) if plan.count_instructions else skipped
        )
        printed = large_output.run(
            workdir,
            plan.output_pairs,
            plan.output_bytes,
            (large_output.ORDINARY_PASSWORD, large_output.LONG_PASSWORD),
            warm_up=plan.warm_up,
        )
        tested = per_test.run(
            workdir, plan.per_test_pairs, plan.per_test_tests, warm_up=plan.warm_up
        )
        counted_per_test = (
            per_test.instructions(workdir, plan.per_test_tests)
            if plan.count_instructions
            else skipped
        )
        requested = per_request.run(workdir, plan.request_rounds, plan.requests_per_round)
        columns = exchanges.columns(plan.workers, plan.replay_workers)
        exchanged = exchanges.run(workdir, plan.sizes, columns)

    print(
        f"pytest-barapi benchmarks ({'quick' if options.quick else 'full'}): "
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{time.perf_counter() - began:.0f} s"
    )
    print()
    print("| cost | goal | ratio (median) | spread (IQR) | medians, with / without |")
    print("|---|---|---|---|---|")

    def row(cost: str, goal: str, ratio: str, spread: str, detail: str) -> None:
        print(f"| {cost} | {goal} | {ratio} | {spread} | {detail} |")

    def ms(value: float) -> str:
        return f"{value * 1e3:.0f} ms"

    s = started
    row(
        f"start-up: `pytest -q`, {plan.startup_tests} plain tests, plugin / `-p no:barapi`, wall",
        "<= 1.02",
        s.ratio.ratio(),
        s.ratio.ratio_spread(),
        f"{ms(s.with_plugin.median)} / {ms(s.without_plugin.median)}, "
        f"{s.ratio.count} interleaved pairs",
    )
    row(
        "start-up, same runs, CPU time (user + system)",
        "-",
        s.cpu_ratio.ratio(),
        s.cpu_ratio.ratio_spread(),
        f"{ms(s.cpu_with_plugin.median)} / {ms(s.cpu_without_plugin.median)}",
    )

    def instructions_row(cost: str, counted: startup.Instructions | str) -> None:
        if isinstance(counted, startup.Instructions):
            row(
                f"{cost} (valgrind; does not vary)",
                "-",
                f"{counted.ratio:.4f}",
                "-",
                f"{counted.with_plugin / 1e6:.0f} M / {counted.without_plugin / 1e6:.0f} M",
            )
        else:
            row(f"{cost} (valgrind)", "-", counted, "-", "-")

    instructions_row("start-up, instructions of one run each way", counted)
    c = with_credentials
    row(
        "start-up with BARAPI_* credentials set (masked from the start), wall",
        "-",
        c.ratio.ratio(),
        c.ratio.ratio_spread(),
        f"{ms(c.with_plugin.median)} / {ms(c.without_plugin.median)}, "
        f"{c.ratio.count} interleaved pairs",
    )
    k = in_container
    row(
        "start-up in a CI container: `PYTHONDONTWRITEBYTECODE=1`, every module byte-compiled, "
        "none assert-rewritten, wall",
        "<= 1.02",
        k.ratio.ratio(),
        k.ratio.ratio_spread(),
        f"{ms(k.with_plugin.median)} / {ms(k.without_plugin.median)}, "
        f"{k.ratio.count} interleaved pairs",
    )
    instructions_row("start-up in a CI container, instructions", counted_in_container)
    for result, password in zip(printed, ("an ordinary", "a 2,000-character"), strict=True):
        row(
            f"large output: a failing test prints {result.output_bytes / 1e3:.0f} KB "
            f"(8 `...` a line), {password} password set, masked / `-p no:barapi`, wall",
            "<= 1.5",
            result.ratio.ratio(),
            result.ratio.ratio_spread(),
            f"{ms(result.with_plugin.median)} / {ms(result.without_plugin.median)}, "
            f"{result.ratio.count} interleaved pairs",
        )
    t = tested
    row(
        f"per test: {t.tests} tests requesting `barapi_token`, credentials set / the same "
        "tests on a conftest fixture under `-p no:barapi`, wall",
        "<= 1.03",
        t.ratio.ratio(),
        t.ratio.ratio_spread(),
        f"{ms(t.with_plugin.median)} / {ms(t.without_plugin.median)}, "
        f"{t.ratio.count} interleaved pairs",
    )
    row(
        "per test, same runs, CPU time (user + system)",
        "-",
        t.cpu_ratio.ratio(),
        t.cpu_ratio.ratio_spread(),
        f"{ms(t.cpu_with_plugin.median)} / {ms(t.cpu_without_plugin.median)}",
    )
    instructions_row("per test, instructions of one run each way", counted_per_test)
    r = requested
    row(
        f"per request: `barapi_session` / `requests.Session` with the same header, "
        f"{r.per_round} GETs a round, wall",
        "<= 1.05",
        r.ratio.ratio(),
        r.ratio.ratio_spread(),
        f"{r.plugin_us.median:.0f} us / {r.plain_us.median:.0f} us per GET, "
        f"{r.ratio.count} interleaved rounds",
    )
    row(
        "per request, same rounds, CPU time of the client process",
        "-",
        r.cpu_ratio.ratio(),
        r.cpu_ratio.ratio_spread(),
        f"{r.plugin_cpu_us.median:.0f} us / {r.plain_cpu_us.median:.0f} us per GET",
    )
    print()
    print("Token requests per run, counted at the reference server (goal: 1 each; 0 in replay):")
    print()
    titles = [column.title for column in exchanged.columns]
    print("| tests | " + " | ".join(titles) + " |")
    print("|---" * (len(titles) + 1) + "|")
    for tests, counts in exchanged.counts.items():
        print(f"| {tests} | " + " | ".join(counts[title] for title in titles) + " |")
    for note in exchanged.notes:
        print(f"\n- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
