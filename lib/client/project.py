"""The client's side of a project: its checkout, its copies of the two repositories,
the server it talks to, and the jobs in them.

``~/grunt/wc/<server>/<proj>/`` holds the jobs and results working copies, the
remote spec and a lock: one grunt command at a time per project.  Every
command starts from the server's state (``sync``: fetch, then move to it).
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import shutil
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from .. import config, git as G, heartbeat as H, jobs as J
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from . import digest, snapshot, unsettled
from .remote import Remote, RemoteError


def _is_gitdir(d: str) -> bool:
    return all(os.path.exists(os.path.join(d, x)) for x in ("HEAD", "objects", "refs"))


def _checkout_top(cwd: str) -> "str | None":
    """The top of the checkout holding ``cwd``, found the way git finds it, by looking
    for ``.git`` upwards; None wherever git might decide otherwise (a .git file of a
    worktree or submodule, inside a .git or bare repository, another file system or
    owner on the way): then git itself is asked."""
    d = os.path.realpath(cwd)
    try:
        dev, uid = os.stat(d).st_dev, os.getuid()
        while True:
            if os.path.basename(d) == ".git" or _is_gitdir(d):
                return None
            dot = os.path.join(d, ".git")
            if os.path.lexists(dot):
                if (os.path.islink(dot) or not os.path.isdir(dot) or not _is_gitdir(dot)
                        or os.stat(d).st_uid != uid or os.stat(dot).st_uid != uid):
                    return None
                return d
            up = os.path.dirname(d)
            if up == d or os.stat(up).st_dev != dev:
                return None
            d = up
    except OSError:
        return None


def find_projdir(cwd: str) -> str:
    """The top of the git checkout holding ``cwd`` (no git process, most of the time)."""
    top = _checkout_top(cwd)
    if top is not None:
        return top
    try:
        top = G.out("rev-parse", "--show-toplevel", cwd=cwd)
    except G.GitError:
        raise GruntError(f"not a git checkout: {cwd} (grunt works in a project under git)") from None
    return top


NO_SPACE = ("No space left on device", "Out of diskspace", "Disk quota exceeded")


def no_space(e: BaseException) -> bool:
    """Did git or Python fail for want of room on the laptop's disk?"""
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    return any(w in str(getattr(e, "stderr", "")) or w in str(e) for w in NO_SPACE)


def unreachable(e: BaseException) -> bool:
    """The server could not be reached, or stopped answering (not: it refused)."""
    text = str(e)
    return isinstance(e, RemoteError) and (
        text.startswith("cannot reach ") or " stopped answering" in text
        or " broke off" in text or " did not finish within " in text)


def full_disk(e: BaseException) -> GruntError:
    return GruntError(f"the disk holding {config.grunt_dir()} is full "
                      f"({os.strerror(errno.ENOSPC).lower()}): free some space and try again")


def clean_temporary(wc: str) -> None:
    """What a git that failed for want of room left in the copy's object store."""
    objects = os.path.join(wc, ".git", "objects")
    for d, dirs, files in os.walk(objects):
        for name in files:
            if name.startswith(("tmp_obj_", "tmp_pack_", "tmp_idx_", "tmp_rev_")):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(d, name))
        for name in [x for x in dirs if x.startswith("incoming-")]:
            shutil.rmtree(os.path.join(d, name), ignore_errors=True)
            dirs.remove(name)


def _same_commit(wc: str) -> bool:
    """HEAD is already the fetched tip (read from the ref files, else one rev-parse;
    the index of 5,000 jobs is not touched)."""
    heads = [G.loose_ref(wc, "HEAD"), G.loose_ref(wc, f"refs/remotes/origin/{P.BRANCH}")]
    if None in heads:
        heads = G.out("rev-parse", "HEAD", f"origin/{P.BRANCH}", cwd=wc).split()
    return len(heads) == 2 and heads[0] == heads[1]


class Project:
    """A project as the client sees it: name, server, working copies, remote."""

    read_only = False
    jobs_fetched = False   # this command fetched the jobs and grund's heartbeat

    def __init__(self, projdir: str, proj: str, server: str, share: bool = True):
        """``share=False`` for commands that only fetch once (jobs, out, ls, diff):
        one plain connection is cheaper than starting a shared one."""
        self.projdir = projdir
        self.proj = proj
        self.server = server
        self.base = config.client_proj_dir(server, proj)
        self.jobs = os.path.join(self.base, "jobs")
        self.results = os.path.join(self.base, "results")
        spec = config.read_first_line(os.path.join(self.base, "remote"))
        if not spec or not os.path.isdir(os.path.join(self.jobs, ".git")):
            raise GruntError(f"project {proj} is not set up for server {server}: "
                             f"run grunt newproj {proj} <remote>")
        self._take_lock()
        for wc in (self.jobs, self.results):
            G.remove_stale_locks(wc)
        snapshot.ensure_sparse(self.jobs)
        self.remote = Remote(spec, server, share)
        self.share = share
        self._warned = False
        self.stale = False     # True once a reading command went on without the server
        self.reading = False   # True: a command that only reads (see sync)

    def _take_lock(self) -> None:
        # one grunt command at a time per working copy: a second one (a sweep
        # submitted with `&`) waits instead of failing on git's index.lock
        self._lock = open(os.path.join(self.base, "lock"), "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        # our git children inherit the lock: a grunt killed with -9 keeps it
        # until they end, so any *.lock file seen now is a dead git's
        G.INHERIT_FDS = (self._lock.fileno(),)

    @classmethod
    def here(cls, cwd: "str | None" = None, share: bool = True) -> "Project":
        """The project of the checkout holding ``cwd``."""
        projdir = find_projdir(cwd or os.getcwd())
        return cls(projdir, config.project_name(projdir), config.project_server(projdir), share)

    @contextmanager
    def unlocked(self) -> Iterator[None]:
        """Let other grunt commands of this project run meanwhile (a long wait)."""
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_EX)

    def close(self) -> None:
        self.remote.close()
        G.INHERIT_FDS = ()
        self._lock.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is not None and no_space(exc):   # what the git that failed left behind
            for wc in (self.jobs, self.results):
                clean_temporary(wc)
        self.close()

    # -- syncing ---------------------------------------------------------
    def sync(self, wc: "str | None" = None) -> None:
        """Start from the server's state: fetch, then move to it.

        A command that only reads (``reading``) that cannot refresh the copy
        because the laptop's disk is full goes on with what was pulled before,
        and says so; any other command fails.
        """
        wc = wc or self.jobs
        before = digest.head_of(wc, "HEAD") if wc == self.jobs and not self.read_only else ""
        try:
            if not (wc == self.results and self._results_current()):
                self._fetch(wc)
            settled = unsettled.settle(wc) if wc == self.jobs else []
            self._move_to_fetched(wc)
        except (GruntError, OSError) as e:
            if self.reading and unreachable(e):
                self._say_stale(wc, str(e))
                return
            if not no_space(e):
                raise
            clean_temporary(wc)
            if not self.reading:
                raise full_disk(e) from None
            self._say_stale(wc, f"could not refresh from {self.server} ({full_disk(e)})")
            return
        for entry, arrived in settled:
            self._say_settled(entry, arrived)
        said = digest.note(wc, self.projdir, before) if before else None
        if said:
            print(f"grunt: {said}", file=sys.stderr, flush=True)

    def _fetch(self, wc: str) -> None:
        # no submodules here: without the option, a fetch reads the index of
        # every job's files (and sweeps the sparse copy) to look for them
        if wc == self.jobs:
            # grund's heartbeat and its word on trouble (P.PROBLEM_REF) come along
            self.remote.git("fetch", "-q", "--prune", "--no-recurse-submodules", "origin",
                            *H.FETCH_REFSPECS, cwd=wc, proj=self.proj)
            self.jobs_fetched = True
            self._warn_problem(wc)
        else:
            self.remote.git("fetch", "-q", "--no-recurse-submodules", "origin", cwd=wc,
                            proj=self.proj)

    def _results_current(self) -> bool:
        """The results copy holds the tip that grund's heartbeat names, as fetched with
        the jobs in this command: nothing new to fetch (grund pushes the results,
        then the heartbeat, then the jobs that ended)."""
        if not self.jobs_fetched:
            return False
        hb = H.read(self.jobs) or {}
        mine = G.loose_ref(self.results, f"refs/remotes/origin/{P.BRANCH}")
        return mine is not None and hb.get("results") == mine

    def _move_to_fetched(self, wc: str) -> None:
        building = P.state_file(wc, P.BUILDING)
        # nothing new in the jobs copy (which only grunt writes, and publish puts back
        # as it was when a push fails), or a read-only command: no index rewrite
        if ((self.share and wc != self.jobs) or os.path.exists(building)
                or not _same_commit(wc)):
            G.git("reset", "-q", "--hard", f"origin/{P.BRANCH}", cwd=wc)
            # what a grunt killed in the middle wrote (a half-built job would burn its id)
            G.git("clean", "-q", "-fdx", cwd=wc)
            if os.path.exists(building):
                os.unlink(building)

    def _say_stale(self, wc: str, why: str) -> None:
        """A reading command goes on with the copy as it is: say why and as of when."""
        if self.stale:
            return
        self.stale = True
        try:
            when = time.strftime(P.TS_FORMAT, time.gmtime(
                os.stat(os.path.join(wc, ".git", "FETCH_HEAD")).st_mtime))
        except OSError:
            when = "an unknown time"
        print(f"grunt: note: {why}; showing what was pulled at {when}", file=sys.stderr, flush=True)

    def _say_settled(self, entry: dict, arrived: bool) -> None:
        """Say what became of a change whose push lost its answer (client/unsettled.py)."""
        what, _, text = entry["what"].partition(": ")
        head = f"{what}{f' ({text})' if text else ''}, whose outcome was unknown at {entry['time']},"
        if not arrived:
            line = f"{head} did not reach {self.server}: send it again"
        else:
            words = what.split()
            job = self.find(words[1]) if words[0] == "submit" and len(words) > 1 else None
            line = f"{head} did reach {self.server}" + (f": the job is {job.status}" if job else "")
        print(f"grunt: {line}", file=sys.stderr, flush=True)

    def problem(self) -> str:
        """What grund on the server says it cannot do (came with the last fetch), or ""."""
        if not os.path.exists(os.path.join(self.jobs, ".git", *P.PROBLEM_REF.split("/"))):
            return ""
        return G.out("cat-file", "blob", P.PROBLEM_REF, cwd=self.jobs)

    def _warn_problem(self, wc: str) -> None:
        """Show what grund on the server reported (once per command)."""
        if self._warned:
            return
        text = self.problem()
        if text:
            self._warned = True
            print(f"grunt: warning: {self.server}: {text}", file=sys.stderr, flush=True)

    # -- jobs ------------------------------------------------------------
    def id_prefix(self) -> str:
        """The prefix a bare job number stands for (``12`` = ``<prefix>000012``)."""
        return config.prefix()

    def find(self, jobid: str) -> "J.Job | None":
        if not P.is_job_id(jobid):
            return None
        where = P.locate(self.jobs, jobid, self.proj)
        return J.load(self.jobs, where) if where else None

    def select(self, words: "list[str]",
               default: "Callable[[], list[J.Job]] | None" = None) -> "list[J.Job]":
        """Jobs named by id expressions; ids missing from a range are skipped."""
        if not words:
            if default is None:
                raise UsageError(f"which job? give job ids, e.g. 12 or {self.id_prefix()}000011..22")
            return default()
        prefix = self.id_prefix()
        found, missing = [], []
        for word in words:
            word, task = J.split_run(word)
            ids = J.parse_ids([word], prefix)
            got = [j for j in (self.find(i) for i in ids) if j is not None]
            if task is not None:
                got = [self._run_of(j, task) for j in got]
            if not got and len(ids) == 1:
                missing.append(ids[0])
            elif not got:
                missing.append(word)
            found.extend(j for j in got if (j.id, j.task) not in {(f.id, f.task) for f in found})
        if missing:
            raise GruntError(f"no such job in {self.proj} on {self.server}: {', '.join(missing)}")
        return found

    @staticmethod
    def _run_of(job: J.Job, task: int) -> J.Job:
        """The job narrowed to one of its runs (tasks); an error when it has no such run."""
        if task not in {t.index for t in job.tasks}:
            have = f"runs {job.id}_0 .. {job.id}_{len(job.tasks) - 1}" if job.tasks else "no runs"
            raise GruntError(f"{job.id} has no run {task} ({have})")
        return dataclasses.replace(job, task=task)

    def one(self, word: str, cmd: str) -> J.Job:
        """The one job ``word`` names (not a range)."""
        jobs = self.select([word])
        if len(jobs) != 1:
            raise UsageError(f"{cmd} takes one job id")
        return jobs[0]

    def unfinished(self) -> "list[J.Job]":
        """The active jobs that have not finished."""
        return [j for j in J.scan(self.jobs, ("active",)) if not j.finished]

    def results_dir(self, job: J.Job) -> str:
        return job.where.under(self.results)


def set_up(proj: str, spec: str, server: str) -> None:
    """The client's copies of project ``proj`` on ``server`` reached through ``spec``:
    made, or brought up to date (safe to run again).  A set-up that fails leaves nothing."""
    base = config.client_proj_dir(server, proj)
    with Remote(spec, server) as r:  # checks the spec
        config.private(base)
        try:
            for kind in config.KINDS:
                _clone(r, proj, server, os.path.join(base, kind), kind)
        except GruntError as e:
            if not os.listdir(base):  # leave no trace of a set-up that failed
                os.rmdir(base)
            if f"project {proj} does not exist on {server}" in str(e):
                other = _other_names(r, proj, server)
                if other:
                    raise GruntError(other) from None
            raise
    P.write_atomic(os.path.join(base, "remote"), spec + "\n")


def _other_names(r: Remote, proj: str, server: str) -> "str | None":
    """When the server holds its projects under other server names than ours: which
    (the two sides must use the same name), or None."""
    try:
        p = r.run(["find", config.BARE_RELPATH, "-mindepth", "2", "-maxdepth", "2", "-type", "d"],
                  check=False, timeout=30)
    except GruntError:
        return None
    top = config.BARE_RELPATH + "/"
    found = [ln[len(top):].split("/") for ln in p.stdout.decode("utf-8", "replace").splitlines()
             if ln.startswith(top) and ln[len(top):].count("/") == 1]
    names = sorted({name for name, _ in found if name != server})
    having = sorted({name for name, pr in found if pr == proj and name != server})
    if not having and any(name == server for name, _ in found):
        return None          # it knows our name: the project is simply not there
    if having:
        return (f"project {proj} is on that server under the server name {having[0]}, but this "
                f"laptop calls the server {server}: both sides must use the same name "
                f"(echo {having[0]} > ~/.grunt.defserver here, or grunt server {having[0]} in "
                f"this checkout), then grunt newproj {proj} {r.spec} again")
    if names:
        return (f"project {proj} does not exist on {server}, and that server knows only the "
                f"server name(s) {', '.join(names)}: if it is one of them, use the same name here "
                f"(echo <name> > ~/.grunt.defserver, or grunt server <name> in this checkout); "
                f"else create the project there first: grunt newproj {proj}")
    return None


def _clone(r: Remote, proj: str, server: str, wc: str, kind: str) -> None:
    url = r.url(config.bare_relpath(server, proj, kind))
    if os.path.isdir(os.path.join(wc, ".git")):
        G.git("remote", "set-url", "origin", url, cwd=wc)
        if kind == "jobs":
            snapshot.ensure_sparse(wc)
        r.git("fetch", "-q", "origin", cwd=wc, proj=proj)
        G.git("reset", "-q", "--hard", f"origin/{P.BRANCH}", cwd=wc)
        return
    tmp = wc + ".new"
    shutil.rmtree(tmp, ignore_errors=True)  # left by an interrupted set-up
    G.init(tmp, P.BRANCH)
    config.private(tmp)
    G.git("remote", "add", "origin", url, cwd=tmp)
    if kind == "jobs":
        snapshot.ensure_sparse(tmp)
    try:
        r.git("fetch", "-q", "origin", cwd=tmp, proj=proj)
    except GruntError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    G.git("reset", "-q", "--hard", f"origin/{P.BRANCH}", cwd=tmp)
    G.git("branch", "-q", "--set-upstream-to", f"origin/{P.BRANCH}", cwd=tmp)
    os.replace(tmp, wc)
