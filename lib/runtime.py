"""Running a project's grunter.py with grunt's runtime package importable.

grund (and `grunt queue`) run ``python3 grunter.py <cmd>`` in a job directory.
The package ``lib/gruntlib`` is copied into a runtime directory, and grunter
is started through a tiny bootstrap that appends that directory to
``sys.path`` *inside the interpreter*.  Nothing is added to the environment,
so the job that grunter starts (sbatch, a background process) sees exactly
grund's environment, and a project's own ``lib/`` package still wins, because
the job directory comes first on ``sys.path``.
"""
import os
import sys

from . import gruntlib
from .gruntlib import protocol

PACKAGE = "gruntlib"

# argv: python3 -c BOOTSTRAP <runtime dir> grunter.py <cmd> [args...]
BOOTSTRAP = (
    "import sys, runpy\n"
    "sys.path.append(sys.argv[1])\n"
    "sys.argv = sys.argv[2:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def _read(path: str) -> bytes:
    """A file shipped with grunt, also when it runs from a zipapp."""
    loader = getattr(sys.modules[__package__], "__loader__", None)
    if loader is not None and hasattr(loader, "get_data"):
        return loader.get_data(path)
    with open(path, "rb") as f:
        return f.read()


def example_grunter() -> bytes:
    """grunter_example.py, which sits next to lib/ (in the zipapp too)."""
    return _read(os.path.join(os.path.dirname(os.path.dirname(__file__)), "grunter_example.py"))


def install(root: str) -> str:
    """Make ``root/gruntlib`` hold the current runtime package; return root.

    Files are rewritten only when their content differs, atomically, so a
    grunter starting at the same moment never imports a half-written module.
    """
    pkg = os.path.join(root, PACKAGE)
    os.makedirs(pkg, mode=0o700, exist_ok=True)
    src = os.path.dirname(gruntlib.__file__)
    for name in ("__init__", *gruntlib.MODULES):
        path = os.path.join(pkg, name + ".py")
        data = _read(os.path.join(src, name + ".py"))
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            pass
        protocol.write_atomic(path, data)
    return root


def grunter_argv(runtime_root: str, cmd: str, args: "list[str] | None" = None,
                 python: str = "python3") -> "list[str]":
    """argv that runs ``grunter.py <cmd>`` (in the current directory)."""
    return [python, "-c", BOOTSTRAP, runtime_root, "grunter.py", cmd, *(args or [])]
