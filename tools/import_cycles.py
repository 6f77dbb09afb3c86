"""Import circles among a package's modules: every import, at module level or inside a function
(lazy imports count: they are still a dependency), except those under `if TYPE_CHECKING:`.
usage: import_cycles.py SRC_DIR PACKAGE -> prints one line per circle, then 'N circles'."""

import ast
import sys
from pathlib import Path

src, pkg = Path(sys.argv[1]), sys.argv[2]
root = src / pkg
mods = {p.stem if p.name != "__init__.py" else "__init__": p for p in root.glob("*.py")}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level == 0 and node.module.startswith(pkg + "."):
                out.add(node.module.split(".")[1])
            elif node.level == 0 and node.module == pkg:
                out.update(a.name for a in node.names if a.name in mods)
            elif node.level == 1:
                out.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(pkg + "."):
                    out.add(a.name.split(".")[1])
    return {m for m in out if m in mods and m != "__init__"}


graph = {m: imports(p) - {m} for m, p in mods.items() if m != "__init__"}
# Tarjan's strongly connected components
index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = n[0]
    n[0] += 1
    stack.append(v)
    on.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            comps.append(sorted(comp))


sys.setrecursionlimit(10000)
for v in graph:
    if v not in index:
        visit(v)
for c in comps:
    print("circle: " + " <-> ".join(c))
print(f"{len(comps)} circles among {len(graph)} modules")
