"""grund: the user-space daemon on the server.

One instance per user and server root, held by an ``fcntl.flock`` for the life
of the process (a crash or kill -9 releases it).  The loop ``select()``s on a
FIFO that the bare repos' post-receive hook and the job scripts poke, with a
timeout as the safety net.  Idle cost per project is a few ``stat`` calls.

Work list: the ``grcmd.*`` paths added or changed by commits in
``cursor..origin/main`` not made by grund, oldest first.  The cursor (a JSON
file in the working copy's .git) is advanced per command, after the command's
result is committed, never before; a command interrupted by a crash is marked
in-flight and finished on restart (a ``submit`` is not run again when the job
shows any sign of having been submitted, and the runners look the job up in
the scheduler by name before submitting).
"""
from __future__ import annotations

import argparse
import csv
import errno
import fcntl
import glob
import io
import json
import logging
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import time

from . import config, git as G, protocol as P, runtime, server as S
from .errors import GruntError
from .jobs import FINISHED, is_job_id, load, scan

log = logging.getLogger("grund")
GRUNTER_TIMEOUT = 600
MAX_TRIES = 3  # a command failing this often is skipped (and said so in job.log)
PUSH_TRIES = 5


def atomic_json(path: str, data: dict) -> None:
    P.write_atomic(path, json.dumps(data) + "\n", mode=0o600)


class ProjectState:
    """What grund remembers between rounds about one project."""

    def __init__(self, server: str, proj: str):
        self.server, self.proj = server, proj
        self.bare = S.bare_path(server, proj, "jobs")
        self.jobs = S.wc_path(server, proj, "jobs")
        self.results = S.wc_path(server, proj, "results")
        self.seen: dict | None = None   # loaded from seen_path on first use

    @property
    def cursor_path(self) -> str:
        return os.path.join(self.jobs, ".git", "grund-cursor")

    @property
    def refreshed(self) -> str:
        return os.path.join(self.jobs, ".git", "grund-refreshed")

    @property
    def marker(self) -> str:
        return os.path.join(self.jobs, ".git", P.CHANGED_MARKER)

    @property
    def seen_path(self) -> str:
        return os.path.join(self.jobs, ".git", "grund-seen")

    def signature(self, watch: list[str]) -> list:
        """Cheap change detection, no subprocess.

        The bare repo's tip (a push), the marker the runners touch, grund's
        cursor, and the directories of the unfinished jobs in ``watch`` (a job
        script of an older grunter writes job.start, job.end, ... without
        touching the marker; a new file changes its directory).
        """
        return [S.read_tip(self.bare), _stat(self.marker), _stat(self.cursor_path),
                [_stat(os.path.join(self.jobs, rel)) for rel in watch]]

    def load_seen(self) -> dict:
        """What the last successful round left: {"sig": signature, "watch": [job dirs]}.

        Kept in a file, so ``grund --once`` (cron) skips unchanged projects too.
        """
        if self.seen is None:
            text = P.read_text(self.seen_path)
            try:
                self.seen = json.loads(text) if text else {}
            except ValueError:
                self.seen = {}
        return self.seen

    def remember(self, before: list, tip: str) -> None:
        """After a round: the state it left, with the tip grund made the bare repo hold."""
        watch = unfinished_jobs(self.jobs)
        sig = self.signature(watch)
        sig[0], sig[1] = tip, before[1]  # the marker as it was before: touched meanwhile, look again
        self.seen = {"sig": sig, "watch": watch}
        atomic_json(self.seen_path, self.seen)


def _stat(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


class Grund:
    def __init__(self, server: str, interval: float = 5.0, once: bool = False,
                 refresh: float = 300.0):
        self.server = server
        self.root = config.server_root(server)
        self.interval = interval
        self.refresh_every = refresh
        self.once = once
        self.stop = False
        self.states: dict[str, ProjectState] = {}
        self.rt = os.path.join(self.root, "runtime")
        self.started = time.time()
        self.env = S.grund_env(server)
        self.raced = False   # this round's push had to take a client's commits in

    # ------------------------------------------------------------ lifecycle
    def lock(self, restart: bool = False) -> None:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        path = os.path.join(self.root, "grund.lock")
        self.lockf = open(path, "a+")
        try:
            fcntl.flock(self.lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lockf.seek(0)
            pid = self.lockf.read().strip() or "?"
            if not restart:
                raise GruntError(f"grund is already running for server {self.server} (pid {pid}); "
                                 "stop it first, or use: grund restart") from None
            if pid.isdigit():
                log.info("restart: stopping grund pid %s", pid)
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 60
            while True:
                try:
                    fcntl.flock(self.lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.time() > deadline:
                        raise GruntError(f"grund pid {pid} did not stop within 60 s") from None
                    time.sleep(0.1)
        self.lockf.seek(0)
        self.lockf.truncate()
        self.lockf.write(f"{os.getpid()}\n")
        self.lockf.flush()

    def open_fifo(self) -> None:
        path = S.fifo_path(self.server)
        try:
            os.mkfifo(path, 0o600)
        except FileExistsError:
            if not stat.S_ISFIFO(os.stat(path).st_mode):
                os.unlink(path)
                os.mkfifo(path, 0o600)
        self.fifo_r = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        # our own writer keeps the FIFO from reporting EOF (always readable)
        # once a poking process closes it; signal handlers write to it too
        self.fifo_w = os.open(path, os.O_WRONLY | os.O_NONBLOCK)

    def on_signal(self, signum, frame) -> None:
        self.stop = True
        try:
            os.write(self.fifo_w, b"s")
        except OSError:
            pass

    def run(self) -> int:
        runtime.install(self.rt)
        self.open_fifo()
        old = {sig: signal.signal(sig, self.on_signal)
               for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            return self.loop()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            os.close(self.fifo_r)
            os.close(self.fifo_w)
            self.lockf.close()

    def loop(self) -> int:
        log.info("grund %d serving %s (%s), every %.1f s", os.getpid(), self.server,
                 self.root, self.interval)
        for proj in S.projects(self.server):
            self.clear_stale_locks(proj)
        while not self.stop:
            self.round()
            if self.once or self.stop:
                break
            ready, _, _ = select.select([self.fifo_r], [], [], self.interval)
            if ready:
                try:
                    while os.read(self.fifo_r, 4096):
                        pass
                except BlockingIOError:
                    pass
        log.info("grund %d stopping", os.getpid())
        return 0

    def clear_stale_locks(self, proj: str) -> None:
        """A git killed with grund leaves *.lock files; they predate this grund."""
        for kind in ("jobs", "results"):
            gitdir = os.path.join(S.wc_path(self.server, proj, kind), ".git")
            for d, dirs, files in os.walk(gitdir):
                if d == gitdir:   # git's locks: index, HEAD, config, packed-refs, refs/
                    dirs[:] = [x for x in dirs if x == "refs"]
                for f in files:
                    p = os.path.join(d, f)
                    if f.endswith(".lock") and os.path.getmtime(p) < self.started:
                        log.warning("removing stale %s", p)
                        os.unlink(p)

    # ------------------------------------------------------------ rounds
    def round(self) -> None:
        for proj in S.projects(self.server):
            if self.stop:
                return
            st = self.states.get(proj)
            if st is None:
                st = self.states[proj] = ProjectState(self.server, proj)
            seen = st.load_seen()
            sig = st.signature(seen.get("watch", []))
            if sig == seen.get("sig") and not (seen.get("watch") and self.refresh_due(st)):
                continue  # nothing pushed, no job wrote anything: no git at all
            try:
                self.raced = False
                self.process(st)
                # the bare repo now holds our HEAD (pushed, or nothing to
                # push); a push that raced a client's merged commits grund has
                # not looked at yet: leave the state unremembered, look again
                if not self.raced and not self.stop:
                    st.remember(sig, G.out("rev-parse", "HEAD", cwd=st.jobs))
            except GruntError as e:
                log.error("%s: %s (will retry)", proj, e)
            except OSError as e:
                log.error("%s: %s (will retry)", proj, e)
            except Exception:  # a bug: keep serving the other projects
                log.exception("%s: internal error (a bug in grund; will retry)", proj)

    def process(self, st: ProjectState) -> None:
        for kind in ("jobs", "results"):
            S.ensure_wc(self.server, st.proj, kind)
        G.git("fetch", "-q", "origin", cwd=st.jobs)
        cur = self.load_cursor(st)
        self.merge(st.jobs)
        work = self.worklist(st, cur)
        for i, (commit, path) in enumerate(work):
            if self.stop:
                break
            if commit == cur.get("commit_partial") and path in cur.get("done", []):
                continue
            resumed = cur.get("inflight") == [commit, path]
            tries = cur.get("tries", 0) + 1 if resumed else 1
            cur.update(inflight=[commit, path], tries=tries)
            atomic_json(st.cursor_path, cur)
            if tries > MAX_TRIES:
                self.give_up(st, path)
            else:
                self.command(st, path, resumed)
            last_of_commit = i + 1 == len(work) or work[i + 1][0] != commit
            if last_of_commit:
                cur = {"commit": commit}
            else:
                done = cur.get("done", []) if cur.get("commit_partial") == commit else []
                cur = {"commit": cur.get("commit"), "commit_partial": commit, "done": done + [path]}
            atomic_json(st.cursor_path, cur)
        if not self.stop:
            tip = G.out("rev-parse", f"origin/{S.BRANCH}", cwd=st.jobs)
            if cur.get("commit") != tip:
                atomic_json(st.cursor_path, {"commit": tip})
        self.refresh(st)
        self.collect_changes(st)
        self.push(st.jobs)
        self.push(st.results)

    # ------------------------------------------------------------ cursor and work
    def load_cursor(self, st: ProjectState) -> dict:
        text = P.read_text(st.cursor_path)
        if text:
            try:
                return json.loads(text)
            except ValueError:
                log.error("%s: unreadable cursor %s; starting after grund's last commit",
                          st.proj, st.cursor_path)
        # no cursor: a new working copy.  Everything up to grund's own last
        # commit was handled by an earlier grund (it commits after each command).
        last = G.out("log", "-1", "--format=%H", f"--author={S.grund_email(self.server)}",
                     f"origin/{S.BRANCH}", cwd=st.jobs)
        cur = {"commit": last or None}
        atomic_json(st.cursor_path, cur)
        return cur

    def worklist(self, st: ProjectState, cur: dict) -> list[tuple[str, str]]:
        start = cur.get("commit")
        rng = [f"{start}..origin/{S.BRANCH}"] if start else [f"origin/{S.BRANCH}"]
        raw = G.git("log", "-z", "--reverse", "--no-merges", "--no-renames",
                    "--format=%x01%H %ae", "--name-only", "--diff-filter=AM", *rng, cwd=st.jobs)
        work: list[tuple[str, str]] = []
        commit, skip = "", True
        me = S.grund_email(self.server)
        for tok in raw.decode("utf-8", "surrogateescape").split("\0"):
            tok = tok.lstrip("\n")
            if tok.startswith("\x01"):
                commit, email = tok[1:].split(" ", 1)
                skip = email == me
            elif tok and not skip:
                m = P.CMD_PATH_RE.match(tok)
                if m and m.group(3) == st.proj:
                    work.append((commit, tok))
        return work

    def merge(self, wc: str) -> None:
        """Bring origin's new commits in; running jobs' files are left alone."""
        G.git("merge", "-q", "--no-edit", f"origin/{S.BRANCH}", cwd=wc, env=self.env)

    def push(self, wc: str) -> None:
        if G.out("rev-list", "--count", f"origin/{S.BRANCH}..HEAD", cwd=wc) == "0":
            return
        for attempt in range(PUSH_TRIES):
            try:
                G.git("push", "-q", "origin", f"HEAD:refs/heads/{S.BRANCH}", cwd=wc)
                return
            except G.GitError as e:
                if "rejected" not in e.stderr and "fetch first" not in e.stderr:
                    raise
                # a client pushed meanwhile: take its commits and try again
                self.raced = True
                G.git("fetch", "-q", "origin", cwd=wc)
                self.merge(wc)
        raise GruntError(f"could not push {wc}: the repository kept moving on")

    # ------------------------------------------------------------ one command
    def command(self, st: ProjectState, path: str, resumed: bool) -> None:
        m = P.CMD_PATH_RE.match(path)
        assert m
        folder, jid, proj, cmd = m.groups()
        jobdir = os.path.join(st.jobs, folder, jid, proj)
        if not os.path.isdir(jobdir):
            log.info("%s: %s: job is gone, skipping %s", st.proj, jid, cmd)
            return
        content = P.read_text(os.path.join(jobdir, f"grcmd.{cmd}")) or ""
        log.info("%s: %s %s%s", st.proj, cmd, jid, " (resumed after a crash)" if resumed else "")
        if cmd in ("update", "results"):
            files = [ln for ln in content.splitlines() if ln.strip()]
            if len(files) == 1 and P.parse_ts(files[0]):
                files = []
            self.copy_results(st, folder, jid, jobdir, files)
        elif cmd in ("delete", "archive", "nuke"):
            return self.move(st, folder, jid, proj, cmd)
        elif cmd == "newproj-server":
            name = content.strip()
            try:
                existed = S.create_project(self.server, name)
                self.joblog(jobdir, f"newproj-server {name}: {'exists' if existed else 'created'}")
            except GruntError as e:
                self.joblog(jobdir, f"newproj-server {name}: {e}")
        elif cmd == "submit" and resumed and self.submitted(jobdir):
            self.joblog(jobdir, "submit: grund was interrupted after submitting; not submitted again")
        else:
            before = self.finished(jobdir) and self.submitted(jobdir)
            self.grunter(jobdir, cmd)
            if not before and self.submitted(jobdir) and self.finished(jobdir):
                self.copy_results(st, folder, jid, jobdir, [])  # it ended already
        self.commit_job(st, jobdir, f"{cmd} {jid}")

    def refresh_due(self, st: ProjectState) -> bool:
        """Time to ask the scheduler about unfinished jobs again?  (one stat)"""
        try:
            return time.time() - os.stat(st.refreshed).st_mtime >= self.refresh_every
        except FileNotFoundError:  # a project seen for the first time: start the clock
            if os.path.isdir(os.path.dirname(st.refreshed)):
                P.write_atomic(st.refreshed, "")
            return False

    def refresh(self, st: ProjectState) -> None:
        """Run ``grunter.py status`` for the unfinished jobs, every --refresh seconds.

        A job the scheduler killed outright (out of memory, or a program that
        ignores SIGTERM at its time limit) cannot record its own end; without
        this it would show Running until someone ran ``grunt status``.  The
        runner asks the scheduler once for all of them.
        """
        if not self.refresh_due(st):
            return
        P.write_atomic(st.refreshed, "")
        for job in scan(st.jobs, ("active",)):
            if job.status not in FINISHED and self.submitted(job.path):
                self.grunter(job.path, "status", quiet=True)

    def give_up(self, st: ProjectState, path: str) -> None:
        """A command that failed MAX_TRIES times is skipped, so the rest go on."""
        log.error("%s: giving up on %s after %d tries (see the log above)", st.proj, path, MAX_TRIES)
        jobdir = os.path.join(st.jobs, os.path.dirname(path))
        if os.path.isdir(jobdir):
            msg = f"{os.path.basename(path)}: grund gave up after {MAX_TRIES} failed tries; see grund's log"
            self.joblog(jobdir, msg)
            if path.endswith("/grcmd.submit") and not self.submitted(jobdir):
                P.write_atomic(os.path.join(jobdir, P.ERROR), msg + "\n")
            self.commit_job(st, jobdir, f"gave up on {path}")

    def submitted(self, jobdir: str) -> bool:
        return any(os.path.exists(os.path.join(jobdir, f))
                   for f in (P.SLURMID, P.PID, P.START, P.ERROR, P.END))

    def grunter(self, jobdir: str, cmd: str, quiet: bool = False) -> tuple[int, str]:
        """Run ``grunter.py <cmd>`` in the job; its output goes to job.log.

        ``quiet``: a routine call (the periodic refresh) that succeeds
        silently leaves no line in job.log, so it makes no commit either.
        """
        if not os.path.isfile(os.path.join(jobdir, "grunter.py")):
            msg = "no grunter.py in the job: add grunter.py to the project and submit again"
            if cmd == "submit":
                P.write_atomic(os.path.join(jobdir, P.ERROR), msg + "\n")
            self.joblog(jobdir, f"{cmd}: {msg}")
            return 127, ""
        try:
            p = subprocess.run(runtime.grunter_argv(self.rt, cmd), cwd=jobdir,
                               stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=GRUNTER_TIMEOUT, start_new_session=True)
            rc, out, err = p.returncode, p.stdout.decode("utf-8", "replace"), \
                p.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            rc, out = -1, (e.stdout or b"").decode("utf-8", "replace")
            err = f"grunter.py {cmd} took longer than {GRUNTER_TIMEOUT} s and was stopped\n"
        if not (quiet and rc == 0 and not (out + err).strip()):
            self.joblog(jobdir, f"grunter.py {cmd}: exit {rc}", out + err)
        if cmd == "submit" and rc != 0 and not os.path.exists(os.path.join(jobdir, P.ERROR)):
            last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "")
            P.write_atomic(os.path.join(jobdir, P.ERROR),
                           f"grunter.py submit failed (exit {rc})" + (f": {last}" if last else "") + "\n")
        return rc, out

    def joblog(self, jobdir: str, line: str, text: str = "") -> None:
        with open(os.path.join(jobdir, P.LOG), "a", encoding="utf-8") as f:
            f.write(f"{P.now_ts()} {line}\n")
            if text.strip():
                f.write("".join(f"  {ln}\n" for ln in text.rstrip("\n").splitlines()))

    def write_list(self, jobdir: str) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["File", "Size", "Modified"])
        for rel, st in walk_files(jobdir):
            if P.is_job_file(rel):
                continue
            ts = time.strftime(P.TS_FORMAT, time.gmtime(st.st_mtime))
            w.writerow([rel, st.st_size, ts])
        P.write_atomic(os.path.join(jobdir, P.LIST), buf.getvalue())

    def commit_job(self, st: ProjectState, jobdir: str, msg: str) -> None:
        self.write_list(jobdir)
        rel = os.path.relpath(jobdir, st.jobs)
        G.git("add", "-A", "-f", "--", f"{rel}/job.*", cwd=st.jobs)
        self.commit(st.jobs, msg)

    def commit(self, wc: str, msg: str) -> bool:
        if G.ok("diff", "--cached", "--quiet", cwd=wc):
            return False
        S.commit(wc, self.server, msg)
        return True

    # ------------------------------------------------------------ core commands
    def move(self, st: ProjectState, folder: str, jid: str, proj: str, cmd: str) -> None:
        jobdir = os.path.join(st.jobs, folder, jid, proj)
        if cmd in ("delete", "nuke") and not self.finished(jobdir):
            self.grunter(jobdir, "cancel")
        target = None if cmd == "nuke" else cmd
        if target == folder:
            return
        for wc in (st.jobs, st.results):
            src = os.path.join(wc, folder, jid)
            if not os.path.isdir(src):
                continue
            if target is None:
                G.git("rm", "-r", "-q", "-f", "--ignore-unmatch", "--", f"{folder}/{jid}", cwd=wc)
                shutil.rmtree(src, ignore_errors=True)
            else:
                dst = os.path.join(wc, target, jid)
                if os.path.exists(dst):
                    log.error("%s: cannot %s %s: %s exists", st.proj, cmd, jid, dst)
                    return
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                # tracked changes and the job files; the job's outputs stay out
                # of the jobs repo (results are copied to the results repo)
                G.git("add", "-u", "--", f"{folder}/{jid}", cwd=wc)
                if wc == st.jobs:
                    G.git("add", "-f", "--", f"{folder}/{jid}/{proj}/job.*", cwd=wc)
                # git mv renames the directory itself: the untracked outputs go along
                G.git("mv", f"{folder}/{jid}", f"{target}/{jid}", cwd=wc)
                if wc == st.jobs:
                    self.joblog(os.path.join(dst, proj), f"{cmd}: moved from {folder}/ to {target}/")
                    G.git("add", "-f", "--", f"{target}/{jid}/{proj}/{P.LOG}", cwd=wc)
            self.commit(wc, f"{cmd} {jid}")

    def finished(self, jobdir: str) -> bool:
        parts = jobdir.rstrip("/").split("/")
        j = load(jobdir, parts[-2], parts[-1], parts[-3])
        return j.status in FINISHED or not self.submitted(jobdir)

    def copy_results(self, st: ProjectState, folder: str, jid: str, jobdir: str,
                     files: list[str]) -> None:
        if not files:
            rc, out = self.grunter(jobdir, "results")
            files = [ln.strip() for ln in out.splitlines() if ln.strip()] if rc == 0 else []
            if rc != 0:
                files = self.new_files(st, jobdir)
        dest_root = os.path.join(st.results, folder, jid, os.path.basename(jobdir))
        real_job = os.path.realpath(jobdir)
        copied, refused = [], []
        for name in files:
            for rel in self.expand(jobdir, name):
                src = os.path.join(jobdir, rel)
                norm = os.path.normpath(rel)
                if (os.path.isabs(rel) or norm.startswith("..") or
                        not os.path.realpath(src).startswith(real_job + os.sep)):
                    refused.append(rel)
                    continue
                if not os.path.isfile(src) or P.is_job_file(norm):
                    continue
                dst = os.path.join(dest_root, norm)
                make_room(dest_root, norm)
                shutil.copyfile(src, dst)
                copied.append(norm)
        if refused:
            self.joblog(jobdir, "results: refused paths outside the job: " + ", ".join(refused))
        self.joblog(jobdir, f"results: copied {len(copied)} file(s)")
        if copied:
            G.git("add", "-A", "-f", "--", os.path.relpath(dest_root, st.results), cwd=st.results)
            self.commit(st.results, f"results {jid}")

    def expand(self, jobdir: str, name: str) -> list[str]:
        """A result name: a file, or a directory whose files are all taken."""
        path = os.path.join(jobdir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            return [os.path.join(name, rel) for rel, _ in walk_files(path)]
        return [name]

    def new_files(self, st: ProjectState, jobdir: str) -> list[str]:
        """Files the job made or changed: untracked or modified, job files aside."""
        rel = os.path.relpath(jobdir, st.jobs)
        raw = G.git("ls-files", "-z", "--others", "--modified", "--", rel, cwd=st.jobs)
        out = []
        for p in G.zsplit(raw):
            r = os.path.relpath(p, rel)
            if not P.is_job_file(r) and r not in out:
                out.append(r)
        return out

    def collect_changes(self, st: ProjectState) -> None:
        """Commit job files the running jobs wrote; finish jobs that ended."""
        if not glob.glob(os.path.join(glob.escape(st.jobs), "active", "*", "*", "job.*")):
            return  # git add fails on a pathspec that matches no file
        G.git("add", "-A", "-f", "--", ":(glob)active/*/*/job.*", cwd=st.jobs)
        staged = G.zsplit(G.git("diff", "--cached", "--name-only", "-z", cwd=st.jobs))
        if not staged:
            return
        ended = sorted({os.path.dirname(p) for p in staged
                        if os.path.basename(p) == P.END or P.TASK_FILE_RE.match(os.path.basename(p))
                        and os.path.basename(p).endswith(".end")})
        self.commit(st.jobs, "job files of " + " ".join(sorted({p.split('/')[1] for p in staged}))[:200])
        for rel in ended:
            jobdir = os.path.join(st.jobs, rel)
            if not self.finished(jobdir):
                continue
            folder, jid, _ = rel.split("/")
            log.info("%s: %s ended", st.proj, jid)
            if os.path.exists(os.path.join(jobdir, P.SLURMID)):
                self.grunter(jobdir, "status")
            self.copy_results(st, folder, jid, jobdir, [])
            self.commit_job(st, jobdir, f"ended {jid}")


def unfinished_jobs(wc: str) -> list[str]:
    """Active jobs still waiting for their end, as paths relative to ``wc``.

    Stats; a job's files are read only when it has no job.end.
    """
    base = os.path.join(wc, "active")
    try:
        jids = [e for e in os.scandir(base) if e.is_dir() and is_job_id(e.name)]
    except FileNotFoundError:
        return []
    out = []
    for e in sorted(jids, key=lambda x: x.name):
        for d in os.scandir(e.path):
            if d.is_dir() and P.PROJ_RE.match(d.name) and \
                    not os.path.exists(os.path.join(d.path, P.END)) and \
                    load(d.path, e.name, d.name, "active").status not in FINISHED:
                out.append(f"active/{e.name}/{d.name}")
    return out


def make_room(root: str, rel: str) -> None:
    """Directories for ``root/rel``, where an earlier result may have had another type.

    A result that was a file and is now a directory (or the other way round)
    replaces the old one instead of failing the copy every time.
    """
    parts = rel.split("/")
    path = root
    for name in parts[:-1]:
        path = os.path.join(path, name)
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)
    os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
    last = os.path.join(root, rel)
    if os.path.isdir(last) and not os.path.islink(last):
        shutil.rmtree(last)


def walk_files(top: str):
    """(relative path, stat) of every file below top, symlinks not followed."""
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if x != ".git")
        for f in sorted(files):
            p = os.path.join(d, f)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield os.path.relpath(p, top), st


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="grund", description="grunt's daemon on the server")
    ap.add_argument("action", nargs="?", choices=["run", "restart"], default="run",
                    help="restart: stop a running grund first")
    ap.add_argument("--once", action="store_true", help="process everything pending and exit")
    ap.add_argument("--interval", type=float, default=float(os.environ.get("GRUND_INTERVAL", 5)),
                    help="seconds between checks when nothing wakes grund (default 5)")
    ap.add_argument("--refresh", type=float, default=300.0,
                    help="seconds between status checks of unfinished jobs (default 300)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if a.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s grund: %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    try:
        server = config.default_server()
        d = Grund(server, a.interval, a.once, a.refresh)
        d.lock(restart=a.action == "restart")
        return d.run()
    except GruntError as e:
        print(f"grund: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        if e.errno == errno.ENOSPC:
            print("grund: error: no space left on device", file=sys.stderr)
        else:
            print(f"grund: error: {e}", file=sys.stderr)
        return 1
    except Exception:  # a bug: show where, and say that it is one
        log.exception("internal error (a bug in grund, please report it with these lines)")
        return 1
