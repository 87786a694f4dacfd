"""Making jobs: submit, resubmit.

``submit`` passes every word before ``-m`` to the program untouched, so its
command line is split by hand: ``[args...] -m 'message' [-- args...]``, the
message last before ``--``.
"""
from __future__ import annotations

import os
from argparse import Namespace
from typing import Callable

from .. import config, jobs as J, term
from ..client import provenance, snapshot, submit as S
from ..client.project import Project
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from .common import check_grund, say, warn


MESSAGE_OPTS = ("-m", "--message")


def message_words(words: "list[str]") -> int:
    """How many of the last words are ``-m msg`` (2), ``-mmsg``/``--message=msg`` (1), or 0."""
    if len(words) >= 2 and words[-2] in MESSAGE_OPTS:
        return 2
    if words and (words[-1].startswith("--message=")
                  or words[-1].startswith("-m") and len(words[-1]) > 2):
        return 1
    return 0


def split_message(argv: "list[str]", usage: str) -> "tuple[list[str], str]":
    """``[args...] -m msg [-- args...]`` -> (args, msg); -m must come last before
    ``--``, after which every word is the program's (``-m`` too)."""
    rest, tail = list(argv), []   # type: list[str], list[str]
    if "--" in rest:
        at = rest.index("--")
        rest, tail = rest[:at], rest[at + 1:]
    msg = None
    if rest and rest[-1] in MESSAGE_OPTS:
        raise UsageError(f"the message is missing after {rest[-1]}: grunt {usage} -m 'why'")
    n = message_words(rest)
    if n == 2:
        msg, rest = rest[-1], rest[:-2]
    elif n and rest[-1].startswith("--message="):
        msg, rest = rest[-1][len("--message="):], rest[:-1]
    elif n:
        msg, rest = rest[-1][2:], rest[:-1]
        if msg.startswith("="):   # -m=text, as other tools take it: the text
            msg = msg[1:]
    if any(x in MESSAGE_OPTS for x in rest):
        raise UsageError(f"-m 'message' must come last (a program argument -m goes after --): "
                         f"grunt {usage} -m 'why'")
    if msg is None:
        raise UsageError(f"a message is required: grunt {usage} -m 'why'")
    if not msg.strip():
        raise UsageError(f"the message is empty: grunt {usage} -m 'why'")
    args = rest + tail
    S.check_args(args)
    return args, msg


def parse_submit(argv: "list[str]") -> Namespace:
    after = None
    if argv and (argv[0] == "--after" or argv[0].startswith("--after=")):
        if argv[0] == "--after":
            if len(argv) < 2 or argv[1].startswith("-"):
                raise UsageError("--after needs a job: grunt submit --after <jobid>[:ok|any|notok] "
                                 "[args...] -m 'why'")
            after, argv = argv[1], argv[2:]
        else:
            after, argv = argv[0].split("=", 1)[1], argv[1:]
        kind = after.rpartition(":")[2] if ":" in after else "ok"
        if kind not in P.AFTER_KINDS:
            raise UsageError(f"--after {after}: how the job must end is ok, any or notok, "
                             f"not {kind!r}")
    args, msg = split_message(argv, "submit [args...]")
    return Namespace(args=args, message=msg, after=after)


def _after(pr: Project, after: "str | None") -> "dict[str, str]":
    """job.after for ``--after <jobid>[:kind]``: the parent must exist in this project."""
    if after is None:
        return {}
    word, _, kind = after.partition(":")
    ids = J.parse_ids([word], pr.id_prefix())
    if len(ids) != 1:
        raise UsageError(f"--after takes one job, not {word!r}")
    parent = pr.find(ids[0])
    if ids[0] == P.format_jobid(config.prefix(), S.next_number(pr.jobs, config.prefix())):
        raise GruntError(f"--after {ids[0]}: that is this new job; a job cannot wait for "
                         "itself; nothing was submitted")
    if parent is None:
        raise GruntError(f"--after {ids[0]}: no such job in {pr.proj} on {pr.server}; "
                         "nothing was submitted")
    return {P.AFTER: f"{parent.id}:{kind or 'ok'}\n"}


def submit(a: Namespace) -> int:
    return submit_here(a.args, a.message, after=a.after)


def submit_here(args: "list[str]", message: str, files: "dict[str, str] | None" = None,
                shown: "Callable[[str], str]" = str, after: "str | None" = None) -> int:
    """A new job of the current checkout with ``args`` and more job ``files``; print it.
    ``after``: ``<jobid>[:kind]``, the job grund holds it for (submit --after)."""
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
        record = {**record, **_after(pr, after)}
        jid = S.submit_checkout(pr, args, message, ship, tree, record, lambda: prog.update(
            f"committing {len(ship)} files and pushing to {pr.server}"))
        prog.stop()
        say(shown(jid))
        check_grund(pr)
    return 0
