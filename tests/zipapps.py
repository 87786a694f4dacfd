"""grunt and grund as single-file executables, built by `make dist`.

The server side of the ssh tests runs as another unix user, who may not be able
to read this checkout (CI clones anywhere).  So it runs what users install on a
cluster: the two zipapps from `make dist`, copied into a directory every user
can read.  The build happens in a temporary copy of the repo, never in its dist/.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ("Makefile", "grunt", "grund", "lib", "grunter_example.py", "grunt.bash-completion",
           "grunt.zsh-completion")


def copy_sources(tree: str) -> None:
    """What `make dist` and `make install` need, copied into ``tree``."""
    for name in SOURCES:
        src = os.path.join(TOP, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(tree, name),
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, tree)


def build(parent: str = "/tmp", python: str = sys.executable) -> str:
    """Build dist/grunt and dist/grund; return a new world-readable directory holding them.

    The caller removes the directory.  ``parent`` must be traversable by the
    server user (pytest's own temp dirs are 0700).  The bytecode in them is
    ``python``'s (used when the same Python version runs them).
    """
    with tempfile.TemporaryDirectory(prefix="grunt-dist.") as tree:
        copy_sources(tree)
        p = subprocess.run(["make", "-s", "dist", f"PYTHON={python}"], cwd=tree,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"make dist failed:\n{p.stdout}{p.stderr}")
        bindir = tempfile.mkdtemp(prefix="grunt-bin.", dir=parent)
        os.chmod(bindir, 0o755)
        for exe in ("grunt", "grund"):
            dst = os.path.join(bindir, exe)
            shutil.copyfile(os.path.join(tree, "dist", exe), dst)
            os.chmod(dst, 0o755)
    return bindir


def bench_python() -> str:
    """The python3 that make bench runs grunt with: BENCH_PYTHON, else the system's
    /usr/bin/python3 (3.8 or newer), else this one.  A version manager's shim in
    front of python3 (pyenv: a bash script) adds its own start to every command."""
    chosen = os.environ.get("BENCH_PYTHON")
    if chosen:
        return chosen
    system = "/usr/bin/python3"
    if os.access(system, os.X_OK) and subprocess.run(
            [system, "-c", "import sys; sys.exit(sys.version_info < (3, 8))"]).returncode == 0:
        return system
    return sys.executable


def build_for_bench() -> str:
    """build() with bench_python()'s bytecode, that python3 first on PATH from now on
    (the zipapps' #! line finds it); the directory, as build() returns it."""
    python = bench_python()
    bindir = build(python=python)
    d = os.path.join(bindir, "python")
    os.makedirs(d, exist_ok=True)
    os.symlink(python, os.path.join(d, "python3"))
    os.environ["PATH"] = d + os.pathsep + os.environ["PATH"]
    print(f"grunt and grund run with {python}", flush=True)
    return bindir
