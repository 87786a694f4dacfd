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


def build(parent: str = "/tmp") -> str:
    """Build dist/grunt and dist/grund; return a new world-readable directory holding them.

    The caller removes the directory.  ``parent`` must be traversable by the
    server user (pytest's own temp dirs are 0700).
    """
    with tempfile.TemporaryDirectory(prefix="grunt-dist.") as tree:
        copy_sources(tree)
        p = subprocess.run(["make", "-s", "dist", f"PYTHON={sys.executable}"], cwd=tree,
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
