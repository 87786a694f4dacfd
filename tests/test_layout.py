"""The shape of lib/: where code runs, who may import whom, one owner per fact.

* lib/gruntlib/ runs inside jobs and grunter scripts (grund copies it there):
  it imports nothing outside itself.
* lib/client/ (the laptop) and lib/server/ (the cluster) never import each
  other, nor lib/cli/ (the command line, which calls both).
* No import circle anywhere in lib/.
* No module over 500 lines, no function over 80 (a place to split).
* Facts with one owner: the state files kept in .git (gruntlib/protocol.py),
  the ~/grunt layout (config.py), the branch name (gruntlib/protocol.py).
"""
from __future__ import annotations

import ast
import importlib.util
import os
import sys
import sysconfig

import pytest

from fixture_core import ROOT

LIB = os.path.join(ROOT, "lib")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
STDLIB_DIR = sysconfig.get_paths()["stdlib"]


def _stdlib(name: str) -> bool:
    """A module of the standard library (sys.stdlib_module_names needs Python 3.10)."""
    root = name.split(".")[0]
    if root in getattr(sys, "stdlib_module_names", ()) or root in sys.builtin_module_names:
        return True
    spec = importlib.util.find_spec(root)
    origin = getattr(spec, "origin", None) or ""
    return origin in ("built-in", "frozen") or (origin.startswith(STDLIB_DIR)
                                                and "site-packages" not in origin)


def _modules() -> dict[str, str]:
    """{dotted name: path} of every module in lib/."""
    found = {}
    for d, dirs, files in os.walk(LIB):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                found[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return found


MODULES = _modules()


def _tree(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def _imports(name: str) -> set[str]:
    """Modules ``name`` imports: dotted names, relative imports resolved."""
    path = MODULES[name]
    pkg = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                root = ".".join(base + ([node.module] if node.module else []))
            else:
                root = node.module or ""
            subs = [f"{root}.{a.name}" for a in node.names if f"{root}.{a.name}" in MODULES]
            out.update(subs or [root])
    return out


def _lib_imports(name: str) -> set[str]:
    """The lib modules ``name`` imports (a package stands for its __init__)."""
    return {m for m in _imports(name) if m in MODULES and m != name}


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_packages_are_there():
    for pkg in ("lib.gruntlib", "lib.client", "lib.server", "lib.cli"):
        assert pkg in MODULES, f"{pkg}/__init__.py is missing"


def test_gruntlib_imports_nothing_outside_itself():
    bad = []
    for name in MODULES:
        if not _in(name, "lib.gruntlib"):
            continue
        for m in _imports(name):
            inside = _in(m, "lib.gruntlib")
            stdlib = m == "__future__" or _stdlib(m)
            if not inside and not stdlib:
                bad.append(f"{name} imports {m}")
    assert not bad, bad


def test_engines_import_the_base_modules_never_the_dispatcher():
    for engine in ("lib.gruntlib.slurm", "lib.gruntlib.sge", "lib.gruntlib.local"):
        assert "lib.gruntlib.runner" not in _lib_imports(engine)


@pytest.mark.parametrize("side,others", [("lib.client", ("lib.server", "lib.cli")),
                                         ("lib.server", ("lib.client", "lib.cli"))])
def test_client_and_server_never_import_each_other_or_the_cli(side, others):
    bad = [f"{name} imports {m}" for name in MODULES if _in(name, side)
           for m in _lib_imports(name) if any(_in(m, o) for o in others)]
    assert not bad, bad


def test_no_import_circles():
    graph = {name: _lib_imports(name) for name in MODULES}
    # a package's __init__ importing its own modules is how a package shows its face
    graph = {n: {m for m in deps if not _in(m, n)} for n, deps in graph.items()}
    state: dict[str, int] = {}
    circles = []

    def visit(n: str, trail: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                circles.append(" -> ".join(trail[trail.index(m):] + [m]))
            elif m not in state:
                visit(m, trail + [m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert not circles, circles


def test_modules_and_functions_stay_small():
    long_modules, long_functions = [], []
    for name, path in MODULES.items():
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if len(lines) > MAX_MODULE_LINES:
            long_modules.append(f"{name}: {len(lines)} lines")
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {n} lines")
    assert not long_modules, long_modules
    assert not long_functions, long_functions


def _string_literals(path: str) -> list[tuple[int, str]]:
    return [(n.lineno, n.value) for n in ast.walk(_tree(path))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_state_files_and_the_branch_are_named_once():
    from lib.gruntlib import protocol as P
    owner = MODULES["lib.gruntlib.protocol"]
    bad = []
    for name, path in MODULES.items():
        if path == owner:
            continue
        for line, text in _string_literals(path):
            if text in P.STATE_FILES or text in ("main", "origin/main", "refs/heads/main"):
                bad.append(f"{name}:{line}: {text!r}")
    assert not bad, f"name these through gruntlib/protocol.py: {bad}"


def test_the_grunt_directory_layout_is_config_only():
    owner = MODULES["lib.config"]
    bad = []
    for name, path in MODULES.items():
        if path == owner:
            continue
        for node in ast.walk(_tree(path)):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "join"
                    and any(getattr(getattr(a, "func", None), "attr", "") == "grunt_dir"
                            for a in node.args)):
                bad.append(f"{name}:{node.lineno}: a path built on config.grunt_dir()")
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.startswith(("grunt/bb", "grunt/srv", "grunt/wc", "grunt/ro"))):
                bad.append(f"{name}:{node.lineno}: {node.value!r}")
    assert not bad, f"~/grunt paths belong to lib/config.py: {bad}"


def test_runtime_installs_every_gruntlib_module():
    from lib import gruntlib
    files = {f[:-3] for f in os.listdir(os.path.join(LIB, "gruntlib")) if f.endswith(".py")}
    assert files - {"__init__"} == set(gruntlib.MODULES)


def test_every_command_has_help_and_every_help_a_command():
    from lib import cli
    assert set(cli.COMMANDS) == set(cli.HELP)
    assert set(cli.ALIASES.values()) <= set(cli.COMMANDS)
