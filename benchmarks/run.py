"""Run every pytest-barapi benchmark and print the results as Markdown tables.

    python benchmarks/run.py            # the full run (a few minutes on 2 cores)
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
import per_request
import startup


@dataclass(frozen=True)
class Plan:
    startup_pairs: int
    request_rounds: int
    requests_per_round: int
    sizes: tuple[int, ...]
    workers: tuple[int, ...]
    replay_workers: tuple[int, ...]


FULL = Plan(
    startup_pairs=40,
    request_rounds=21,
    requests_per_round=400,
    sizes=(1, 100, 1000),
    workers=(1, 2, 4),
    replay_workers=(0, 4),
)
QUICK = Plan(
    startup_pairs=2,
    request_rounds=2,
    requests_per_round=200,
    sizes=(100,),
    workers=(2,),
    replay_workers=(0,),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for CI")
    options = parser.parse_args(argv)
    plan = QUICK if options.quick else FULL
    began = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="barapi-bench-") as tmp:
        workdir = Path(tmp)
        started = startup.run(workdir, plan.startup_pairs)
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
    print("| cost | goal | ratio (median) | spread (IQR) | medians |")
    print("|---|---|---|---|---|")
    s = started
    print(
        f"| start-up: `pytest -q`, {startup.TESTS} plain tests, plugin / `-p no:barapi`, "
        f"wall time | <= 1.02 | {s.ratio.ratio()} | {s.ratio.ratio_spread()} | "
        f"{s.with_plugin.median * 1e3:.0f} ms / {s.without_plugin.median * 1e3:.0f} ms, "
        f"{s.ratio.count} interleaved pairs |"
    )
    print(
        f"| start-up, same runs, CPU time (user + system) | - | {s.cpu_ratio.ratio()} | "
        f"{s.cpu_ratio.ratio_spread()} | {s.cpu_with_plugin.median * 1e3:.0f} ms / "
        f"{s.cpu_without_plugin.median * 1e3:.0f} ms |"
    )
    imported = s.plugin_import.minimum
    print(
        f"| start-up, the plugin's import alone (fastest of {s.plugin_import.count}), "
        f"against the median run without it | - | "
        f"{1 + imported / s.without_plugin.median:.3f} | - | "
        f"{imported * 1e3:.1f} ms (median {s.plugin_import.median * 1e3:.1f} ms) |"
    )
    r = requested
    print(
        f"| per request: `barapi_session` / `requests.Session` with the same header, "
        f"{r.per_round} GETs a round | <= 1.05 | {r.ratio.ratio()} | {r.ratio.ratio_spread()} | "
        f"{r.plugin_us.median:.0f} us / {r.plain_us.median:.0f} us per GET, "
        f"{r.ratio.count} interleaved rounds |"
    )
    print(
        f"| per request, same rounds, CPU time of the client process | - | "
        f"{r.cpu_ratio.ratio()} | {r.cpu_ratio.ratio_spread()} | "
        f"{r.plugin_cpu_us.median:.0f} us / {r.plain_cpu_us.median:.0f} us per GET |"
    )
    print()
    print("Token requests per run, counted at the reference server (goal: 1 each; 0 in replay):")
    print()
    titles = [column.title for column in exchanged.columns]
    print("| tests | " + " | ".join(titles) + " |")
    print("|---" * (len(titles) + 1) + "|")
    for tests, row in exchanged.counts.items():
        print(f"| {tests} | " + " | ".join(row[title] for title in titles) + " |")
    for note in exchanged.notes:
        print(f"\n- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
