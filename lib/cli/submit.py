"""Making jobs: submit, resubmit.

``submit`` passes every word before ``-m`` to the program untouched, so its
command line is split by hand: ``[args...] -m 'message'``, the message last.
"""
from __future__ import annotations

import os
from argparse import Namespace
from typing import Callable

from .. import term
from ..client import provenance, snapshot, submit as S
from ..client.project import Project
from ..errors import GruntError, UsageError
from .common import say, warn


def split_message(argv: "list[str]", usage: str) -> "tuple[list[str], str]":
    """``[args...] -m msg`` -> (args, msg); -m must come last."""
    rest = list(argv)
    msg = None
    if len(rest) >= 2 and rest[-2] in ("-m", "--message"):
        msg, rest = rest[-1], rest[:-2]
    elif rest and rest[-1].startswith("-m") and len(rest[-1]) > 2:
        msg, rest = rest[-1][2:], rest[:-1]
    if any(x in ("-m", "--message") for x in rest):
        raise UsageError(f"-m 'message' must come last: grunt {usage} -m 'why'")
    if msg is None:
        raise UsageError(f"a message is required: grunt {usage} -m 'why'")
    if not msg.strip():
        raise UsageError(f"the message is empty: grunt {usage} -m 'why'")
    S.check_args(rest)
    return rest, msg


def parse_submit(argv: "list[str]") -> Namespace:
    args, msg = split_message(argv, "submit [args...]")
    return Namespace(args=args, message=msg)


def submit(a: Namespace) -> int:
    return submit_here(a.args, a.message)


def submit_here(args: "list[str]", message: str, files: "dict[str, str] | None" = None,
                shown: "Callable[[str], str]" = str) -> int:
    """A new job of the current checkout with ``args`` and more job ``files``; print it."""
    with Project.here() as pr, term.Progress("submit") as prog:
        if not os.path.isfile(os.path.join(pr.projdir, "grunter.py")):
            raise GruntError(f"no grunter.py in {pr.projdir}: run grunt init to write one "
                             "from grunter_example.py (it tells grund how to run the job)")
        ship, untracked = S.snapshot_list(pr.projdir)
        if untracked:
            shown_files = ", ".join(untracked[:10]) + (f" and {len(untracked) - 10} more" if len(untracked) > 10 else "")
            warn(f"not shipped (untracked): {shown_files}")
        record = {**provenance.record(pr.projdir, untracked), **(files or {})}
        big = S.big_files(pr.projdir, ship)
        if big:
            warn("shipping big file(s): " + ", ".join(f"{p} ({n >> 20} MB)" for p, n in big[:10])
                 + "; every job keeps its own copy in the jobs repository")
        prog.update(f"hashing {len(ship)} files")
        tree = snapshot.project_tree(pr.projdir, os.path.join(pr.jobs, ".git"), ship)
        prog.update(f"fetching from {pr.server}")
        pr.sync()
        jid = S.submit_checkout(pr, args, message, ship, tree, record, lambda: prog.update(
            f"committing {len(ship)} files and pushing to {pr.server}"))
        prog.stop()
        say(shown(jid))
    return 0
