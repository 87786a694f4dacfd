"""grunt's command line: argv is parsed once, the command is a plain call, the
result is printed; one handler turns errors into one line and an exit code.

The table below names every command: the function that runs it (it takes
the parsed arguments) and how its arguments are parsed (argparse, or by hand
for ``submit`` and ``resubmit``, whose program arguments come before ``-m``).
Exit codes: 0 success, 1 error, 2 usage error, 130 interrupted.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys
from argparse import Namespace
from typing import Callable, NamedTuple

from .. import __version__, config
from ..client.project import find_projdir, full_disk, no_space
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from .common import Parser, say
from .help import ALIASES, HELP, show as show_help


class Command(NamedTuple):
    """A command: functions named "<module>.<function>" of this package, imported
    when the command runs (a command loads only its own module: Python's start
    is most of a short command's time)."""

    run: "str | Callable[[Namespace], int]"
    args: "str | Callable[[Parser], None] | None" = None          # adds argparse arguments
    parse: "str | Callable[[list[str]], Namespace] | None" = None  # or parses argv by hand


def _help(a: Namespace) -> int:
    return show_help(a.command)


def _help_args(p: Parser) -> None:
    p.add_argument("command", nargs="?")


def _nothing(p: Parser) -> None:
    pass


COMMANDS = {
    "newproj": Command("setup.newproj", "setup.newproj_args"),
    "newproj-server": Command("setup.newproj_server", "setup.newproj_server_args"),
    "submit": Command("submit.submit", parse="submit.parse_submit"),
    "sweep": Command("sweep.sweep", parse="sweep.parse_sweep"),
    "jobs": Command("listing.jobs", "listing.jobs_args"),
    "status": Command("control.status", "control.ids_json_args"),
    "update": Command("control.update", "control.update_args"),
    "pull": Command("output.pull", "output.pull_args"),
    "out": Command("output.out", "output.out_args"),
    "wait": Command("control.wait", "control.ids_args"),
    "ls": Command("output.ls", "output.ls_args"),
    "diff": Command("output.diff", "output.diff_args"),
    "link": Command("output.link", "output.ids_args"),
    "unlink": Command("output.unlink", "output.ids_args"),
    "cancel": Command("control.cancel", "control.ids_args"),
    "message": Command("control.message", "control.message_args"),
    "delete": Command("control.delete", "control.ids_args"),
    "archive": Command("control.archive", "control.ids_args"),
    "nuke": Command("control.nuke", "control.ids_args"),
    "undelete": Command("control.undelete", "control.ids_args"),
    "show": Command("listing.show", "listing.one_job_args"),
    "log": Command("listing.log", "listing.one_job_args"),
    "resubmit": Command("sweep.resubmit", parse="sweep.parse_resubmit"),
    "share": Command("setup.share_cmd", "setup.share_args"),
    "server": Command("setup.server", "setup.server_args"),
    "queue": Command("control.queue", _nothing),
    "server-status": Command("listing.server_status", "listing.json_args"),
    "init": Command("setup.init", "setup.init_args"),
    "compare": Command("results.compare", "results.compare_args"),
    "plot": Command("results.plot", "results.plot_args"),
    "report": Command("results.report", "results.report_args"),
    "help": Command(_help, _help_args),
}


def function(name: "str | Callable") -> Callable:
    """The function a COMMANDS entry names ("<module>.<function>"), its module imported now."""
    if callable(name):
        return name
    module, func = name.split(".")
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)


def parse(name: str, argv: "list[str]") -> Namespace:
    cmd = COMMANDS[name]
    if cmd.parse is not None:
        return function(cmd.parse)(argv)
    p = Parser(name)
    if cmd.args is not None:
        function(cmd.args)(p)
    return p.parse_args(argv)


def complete_ids() -> int:
    """Job ids for shell completion, from the local jobs copy only (no ssh, no lock)."""
    try:
        projdir = find_projdir(os.getcwd())
        base = os.path.join(config.client_proj_dir(config.project_server(projdir),
                                                    config.project_name(projdir)), "jobs")
        ids = set()
        for folder in P.FOLDERS:
            with contextlib.suppress(OSError):
                ids.update(e.name for e in os.scandir(os.path.join(base, folder))
                           if P.is_job_id(e.name))
    except GruntError:
        return 1
    say("\n".join(sorted(ids)))
    return 0


def main(argv: "list[str] | None" = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:   # no command: the usage, as a usage error
        show_help(None)
        return UsageError.exit_code
    if argv[0] in ("-h", "--help"):
        return show_help(None)
    if argv[0] == "--version":
        say(f"grunt {__version__}")
        return 0
    if argv[0] == "_ids":  # for the bash completion
        return complete_ids()
    name = ALIASES.get(argv[0], argv[0])
    try:
        if name not in COMMANDS:
            raise UsageError(f"unknown command '{argv[0]}' (see: grunt help)")
        if "-h" in argv[1:2] or "--help" in argv[1:2]:
            return show_help(name)
        return function(COMMANDS[name].run)(parse(name, argv[1:]))
    except BrokenPipeError:
        return 0
    except (GruntError, OSError) as e:
        if no_space(e):   # whatever git or Python ran out of room for
            e = full_disk(e)
        if isinstance(e, OSError):
            print(f"grunt: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
            return 1
        print(f"grunt: {e.label}: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except KeyboardInterrupt:
        print("grunt: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: show where, and say that it is one
        import traceback   # (here: its import is a tenth of a short command's start)
        traceback.print_exc()
        print("grunt: internal error (a bug in grunt, please report it with the lines above)",
              file=sys.stderr)
        return 1
