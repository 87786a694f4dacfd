"""What jobs made: out, ls, diff, pull, link, unlink."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from argparse import Namespace

from .. import git as G, jobs as J, term
from ..client import links, onserver, provenance, snapshot
from ..client.project import Project
from ..client.submit import snapshot_list
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from ..term import Progress, table
from .common import Parser, nothing, project, say, user


def _each_job(a: Namespace, page: bool = False, headers: bool = True):
    """The named jobs, fresh from the server; a header line each when there are several.

    ``page``: the output goes through the pager on a terminal.
    """
    with project(a, share=False, reading=True) as pr:
        pr.sync()
        found = pr.select(a.jobs)
        with term.pager() if page else nothing():
            for j in found:
                if len(found) > 1 and headers:
                    say(f"==> {j.id} <==")
                yield j


def out_args(p: Parser) -> None:
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--attempt", type=int, default=None)
    p.add_argument("jobs", nargs="*")
    p.add_argument("--user", type=user)


def _attempts(j: J.Job, wanted: "int | None") -> "tuple[int, int, str]":
    """(the attempt it is on, the most allowed, its name): the job's, or one run's."""
    if j.task is not None:
        return (*j.task_attempt(j.task), f"{j.id}_{j.task}")
    if j.tasks:   # an array's attempts are its tasks'
        if wanted is not None:
            raise UsageError(f"{j.id} has tasks: name one for --attempt (grunt out {j.id}_T "
                             f"--attempt {wanted})")
        return 1, 1, j.id
    return j.attempt, j.attempts_max, j.id


def out(a: Namespace) -> int:
    if a.follow:
        return _follow(a)
    for j in _each_job(a, page=True):
        err = P.read_text(os.path.join(j.path, P.ERROR)) or (j.unconfirmed if j.status == J.PENDING else "")
        if err:
            sys.stdout.write(err if err.endswith("\n") else err + "\n")
        names = P.output_files(os.listdir(j.path)) if os.path.isdir(j.path) else []
        names = [n for n in names if not P.ATTEMPT_FILE_RE.match(n)]   # the latest attempt's
        if j.task is not None:   # one run: its own output only
            names = [n for n in names if n in (f"job.{j.task}.out", f"job.{j.task}.err")]
        cur, most, what = _attempts(j, a.attempt)
        if a.attempt is not None and a.attempt != cur:
            if not 1 <= a.attempt < cur:
                raise UsageError(f"{what} has no attempt {a.attempt} (it is at attempt {cur})")
            err, names = "", [P.attempt_file(a.attempt, P.OUT) if j.task is None   # shown as
                              else P.task_attempt_file(j.task, a.attempt, "out")]  # its latest
        elif cur > 1 and not a.attempt:
            print(f"(attempt {cur} of {most}; earlier ones: grunt out {what} "
                  f"--attempt N)", file=sys.stderr, flush=True)
        shown = False
        for name in names:
            text = P.read_text(os.path.join(j.path, name))
            if text is None:
                continue
            m = P.TASK_FILE_RE.match(name)
            if m and j.is_sweep and j.task is None:
                say(f"--- {j.id}_{m.group(1)}: {j.label(int(m.group(1)))} ---")
            elif name not in (P.OUT, P.attempt_file(a.attempt or 0, P.OUT)) and j.task is None:
                say(f"--- task {m.group(1)} ---" if m else f"--- {name} ---")
            more = len(names) > 1 and text and not text.endswith("\n")
            sys.stdout.write(text + "\n" if more else text)
            shown = True
        if not shown and not err:
            say(f"(no output yet: {j.id} is {j.status})")
    sys.stdout.flush()
    return 0


def _follow(a: Namespace) -> int:
    """``out -f``: the job's output as it grows on the server, until the job ends."""
    if len(a.jobs) != 1 or a.user:
        raise UsageError("out -f follows one job: grunt out -f <jobid>")
    with Project.here() as pr:
        pr.sync()
        found = pr.select(a.jobs)
        if len(found) != 1:
            raise UsageError("out -f follows one job, not a range")
        status, code = onserver.follow(pr, found[0])
    name = found[0].id if found[0].task is None else f"{found[0].id}_{found[0].task}"
    say(f"({name} ended {status}{'' if code is None else f', exit {code}'})")
    return 0 if status == J.DONE else 1


def ls_args(p: Parser) -> None:
    p.add_argument("--json", action="store_true")
    p.add_argument("jobs", nargs="*")
    p.add_argument("--user", type=user)


def ls(a: Namespace) -> int:
    listed = []
    for j in _each_job(a, headers=not a.json):
        text = P.read_text(os.path.join(j.path, P.LIST))
        rows = [r[:3] for r in csv.reader(io.StringIO(text or "")) if len(r) >= 3][1:]
        if a.json:
            listed.append({"id": j.id, "folder": j.folder, "files": None if text is None else
                           [{"file": f, "size": int(n) if n.isdigit() else None, "modified": m}
                            for f, n, m in rows]})
        elif text is None:
            say("(no job.list yet: grund writes it after the job's first command)")
        else:
            say(table(["FILE", "SIZE", "MODIFIED"], rows))
    if a.json:
        print(json.dumps(listed, indent=1))
    return 0


def diff_args(p: Parser) -> None:
    p.add_argument("job1")
    p.add_argument("job2", nargs="?")
    p.add_argument("--source", action="store_true")


def diff(a: Namespace) -> int:
    if a.source and a.job2:
        raise UsageError("diff --source takes one job: grunt diff <jobid> --source")
    with project(a, share=False, reading=True) as pr:
        pr.sync()
        j1 = _single(pr, a.job1)
        left = f"HEAD:{j1.where.rel}"
        extra = {}   # type: dict[str, str]
        if a.source:
            # the commit lives in the project's checkout: let git in the
            # jobs copy read its objects (read-only, nothing is copied)
            commit, extra = _source_commit(pr, j1)
            left, right = commit, left
        elif a.job2:
            right = f"HEAD:{_single(pr, a.job2).where.rel}"
        else:
            right = snapshot.project_tree(pr.projdir, os.path.join(pr.jobs, ".git"),
                                          snapshot_list(pr.projdir)[0])
        sys.stdout.flush()
        colour = "--color=always" if term.use_colour() else "--no-color"
        argv = ["git", "diff", "--no-ext-diff", colour, left, right, "--",
                ":(exclude)job.*", ":(exclude)grcmd.*"]
        with term.pager():
            rc = subprocess.run(argv, cwd=pr.jobs, env=G.git_env(extra)).returncode
        if rc not in (0, 1):
            raise GruntError("git diff failed")
    return 0


def _single(pr: Project, word: str) -> J.Job:
    found = pr.select([word])
    if len(found) != 1:
        raise UsageError("diff takes single job ids, not ranges")
    return found[0]


def _source_commit(pr: Project, job: J.Job) -> "tuple[str, dict[str, str]]":
    """(the job's source commit, env letting the jobs copy read the checkout's objects)."""
    text = P.read_text(os.path.join(job.path, P.SOURCE))
    if text is None:
        raise GruntError(f"{job.id} has no {P.SOURCE}: it was submitted before grunt recorded sources")
    commit = provenance.parse_source(text).get("commit")
    if not commit:
        raise GruntError(f"{job.id} was not submitted from a commit ({P.SOURCE}: {text.strip()})")
    if not G.ok("cat-file", "-e", f"{commit}^{{commit}}", cwd=pr.projdir):
        raise GruntError(f"the source commit {commit[:12]} of {job.id} is not in this checkout "
                         "(fetch it first)")
    objects = os.path.join(pr.projdir, G.out("rev-parse", "--git-path", "objects", cwd=pr.projdir))
    return commit, {"GIT_ALTERNATE_OBJECT_DIRECTORIES": objects}


def pull_args(p: Parser) -> None:
    p.add_argument("--user", type=user)


def pull(a: Namespace) -> int:
    with project(a) as pr, Progress("pull") as prog:
        prog.update(f"fetching the jobs of {pr.proj} from {pr.server}")
        pr.sync(pr.jobs)
        prog.update(f"fetching the results of {pr.proj} from {pr.server}")
        pr.sync(pr.results)
        prog.update("updating gresults/ links")
        relinked = links.refresh(pr)
        n = sum(1 for w in P.job_dirs(pr.jobs) if w.proj == pr.proj)
        prog.stop()
        say(f"pulled {pr.proj}{f' of {a.user}' if a.user else ''} from {pr.server}: {n} job(s)"
            + (f", {relinked} link(s) updated" if relinked else ""))
    return 0


def ids_args(p: Parser) -> None:
    p.add_argument("jobs", nargs="*")


def link(a: Namespace) -> int:
    with Project.here() as pr:
        for j in pr.select(a.jobs):
            links.link(pr, j)
            say(f"gresults/{j.id} -> {pr.results_dir(j)}")
    return 0


def unlink(a: Namespace) -> int:
    if not a.jobs:
        raise UsageError("which job? give job ids (see: grunt help unlink)")
    with Project.here() as pr:
        for jid in J.parse_ids(a.jobs, pr.id_prefix()):
            if links.unlink(pr, jid):
                say(f"removed gresults/{jid}")
    return 0
