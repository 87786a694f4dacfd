"""Making a new job: what is shipped, its id, its files, one commit and one push.

The id is allocated against the fetched jobs repo (``.grunt-ids/<prefix>``
keeps the last number, so a nuked id is never reused); when the push loses
a race, the job is built again on the new state with a new id.
"""
from __future__ import annotations

import os
import stat
from typing import Callable

from .. import config, git as G
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from . import snapshot
from .project import Project
from .publish import publish

BIG_FILE = 50 << 20  # bytes: submit warns about shipped files this large
# job files a resubmitted job takes over from its parent: the same code, the same origin
PROVENANCE = (P.SOURCE, P.DIRTY, P.PATCH, P.UNTRACKED)


def check_args(args: "list[str]") -> None:
    for x in args:
        if "\n" in x:
            raise UsageError("job arguments cannot contain newlines (job.args holds one per line)")


def snapshot_list(top: str) -> "tuple[list[str], list[str]]":
    """(paths to ship, untracked paths not shipped) of a project checkout."""
    tracked, others = [], []
    # one ls-files for both: -t tags an untracked path "? ", an indexed one
    # "H " (or "S " ...) before its "<mode> <sha> <stage>\t"
    for entry in G.zsplit(G.git("ls-files", "-z", "-t", "-s", "--others", "--exclude-standard",
                                cwd=top)):
        if entry.startswith("? "):
            others.append(entry[2:])
            continue
        meta, path = entry.split("\t", 1)
        if meta.split(" ", 1)[-1].startswith("160000"):  # a submodule: not shipped
            continue
        if path not in tracked[-1:]:
            tracked.append(path)
    ship = [p for p in tracked if os.path.lexists(os.path.join(top, p))]
    if "grunter.py" not in ship and os.path.isfile(os.path.join(top, "grunter.py")):
        ship.append("grunter.py")
    untracked = [p for p in others
                 if p != "grunter.py" and not p.startswith("grunt.") and not p.startswith("gresults/")]
    return ship, untracked


def big_files(top: str, paths: "list[str]") -> "list[tuple[str, int]]":
    """(path, size) of the regular files of ``paths`` of BIG_FILE bytes or more."""
    big = []
    for p in paths:
        try:
            st = os.lstat(os.path.join(top, p))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size >= BIG_FILE:
            big.append((p, st.st_size))
    return big


def next_number(wc: str, prefix: str) -> int:
    """One more than the highest number this prefix ever used in the repo."""
    n = 0
    text = config.read_first_line(os.path.join(wc, P.IDS_DIR, prefix))
    if text and text.isdigit():
        n = int(text)
    for folder in P.FOLDERS:
        try:
            for e in os.scandir(os.path.join(wc, folder)):
                m = P.JOBID_RE.match(e.name)
                if m and m.group(1) == prefix:
                    n = max(n, int(m.group(2)))
        except FileNotFoundError:
            pass
    if n >= 999999:
        raise GruntError(f"job ids for prefix {prefix} are used up")
    return n + 1


def publish_job(pr: Project, args: "list[str]", msg: str,
                fill: "Callable[[P.JobPath], dict[str, str]]") -> str:
    """Commit and push a new job; return its id.

    ``fill(where)`` puts the snapshot into the index of the jobs copy at the
    new job directory (see snapshot.py) and returns more job files to write
    ({name: content}, e.g. the provenance).
    """
    prefix = config.prefix()
    made = []   # type: list[str]

    def build():
        jid = P.format_jobid(prefix, next_number(pr.jobs, prefix))
        made[:] = [jid]

        where = P.JobPath("active", jid, pr.proj)
        dest = where.under(pr.jobs)
        os.makedirs(dest)
        extra = fill(where)
        ts = P.now_ts()
        files = {P.MESSAGE: msg.rstrip("\n") + "\n", P.SUBMIT: ts + "\n",
                 P.ARGS: "".join(x + "\n" for x in args), P.SERVER: pr.server + "\n", **extra,
                 P.CMD_PREFIX + "submit": ts + "\n"}
        for name, text in files.items():
            P.write_atomic(os.path.join(dest, name), text.encode("utf-8", "surrogateescape"))
        counter = f"{P.IDS_DIR}/{prefix}"
        os.makedirs(os.path.join(pr.jobs, P.IDS_DIR), exist_ok=True)
        P.write_atomic(os.path.join(pr.jobs, counter), f"{int(jid[3:])}\n")
        return [where.rel, counter], f"submit {jid}: {msg.strip().splitlines()[0]}"
    publish(pr, build)
    return made[0]


def stored_snapshot(pr: Project, jobid: str) -> "tuple[str, list[str]]":
    """(tree, paths) of the snapshot a job was submitted with, without its job files."""
    first = G.out("log", "--no-renames", "--diff-filter=A", "--format=%H", "--",
                  P.JobPath("active", jobid, pr.proj).file(P.CMD_PREFIX + "submit"),
                  cwd=pr.jobs).split()
    if not first:
        raise GruntError(f"the submit of {jobid} is not in the history of {pr.proj}")
    return snapshot.stored_tree(pr.jobs, f"{first[-1]}:{P.JobPath('active', jobid, pr.proj).rel}")


def submit_checkout(pr: Project, args: "list[str]", msg: str, ship: "list[str]", tree: str,
                    record: "dict[str, str]", before_push: "Callable[[], None]") -> str:
    """A job of the current checkout: ``tree`` (snapshot.project_tree of ``ship``)."""
    def fill(where: P.JobPath) -> "dict[str, str]":
        snapshot.graft(pr.jobs, tree, where.rel, ship, pr.projdir)
        before_push()
        return record
    return publish_job(pr, args, msg, fill)


def resubmit(pr: Project, parent, args: "list[str]", msg: str,
             files: "dict[str, str] | None" = None) -> str:
    """A new job from the stored snapshot of job ``parent``, exactly as submitted.

    ``files``: more job files (a sweep's job.sweep, job.resources).
    """
    tree, paths = stored_snapshot(pr, parent.id)
    extra = {P.PARENT: parent.id + "\n", **(files or {})}
    for name in PROVENANCE:
        text = P.read_text(os.path.join(parent.path, name))
        if text is not None:
            extra[name] = text

    def fill(where: P.JobPath) -> "dict[str, str]":
        # the snapshot exactly as it was submitted, modes and symlinks
        # included, without its job files: a few git calls, any size
        snapshot.graft(pr.jobs, tree, where.rel, paths, pr.projdir)
        return extra
    return publish_job(pr, args or parent.args, msg, fill)
