"""Check a built wheel holds what users install: the package, py.typed, licence, entry point.

Usage: python .ci/check_wheel.py dist/pytest_barapi-*.whl  (or the directory holding it)

Prints the wheel's file list; exits 1 naming what is missing or should not be there (tests,
examples, benchmarks or CI files that slipped in, a missing py.typed or licence).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

PACKAGE = "pytest_barapi/"
ENTRY_POINT = "[pytest11]\nbarapi = pytest_barapi.plugin\n"


def problems(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(name.split("/")[0] for name in names if ".dist-info/" in name)
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    found = [
        f"not part of the package: {name}"
        for name in names
        if not name.startswith((PACKAGE, f"{dist_info}/"))
    ]
    for needed in (f"{PACKAGE}__init__.py", f"{PACKAGE}plugin.py", f"{PACKAGE}py.typed"):
        if needed not in names:
            found.append(f"missing: {needed}")
    if f"{dist_info}/licenses/LICENSE" not in names:
        found.append(f"missing: {dist_info}/licenses/LICENSE")
    if ENTRY_POINT not in entry_points:
        found.append(f"entry point {ENTRY_POINT!r} not in entry_points.txt: {entry_points!r}")
    return found


def main(wheel: Path) -> int:
    with zipfile.ZipFile(wheel) as archive:
        print("\n".join(f"  {name}" for name in archive.namelist()))
    found = problems(wheel)
    for problem in found:
        print(f"{wheel.name}: {problem}", file=sys.stderr)
    return 1 if found else 0


def the_wheel(path: Path) -> Path:
    """``path``, or the one wheel in the directory ``path`` (tox passes no shell globs)."""
    if not path.is_dir():
        return path
    (wheel,) = path.glob("*.whl")
    return wheel


if __name__ == "__main__":
    sys.exit(main(the_wheel(Path(sys.argv[1]))))
