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
import hashlib
import io
import json
import logging
import logging.handlers
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

from . import __version__, client as C, config, git as G, heartbeat as H, protocol as P, runtime, \
    server as S
from .errors import GruntError
from .jobs import FINISHED, is_job_id, load, scan

log = logging.getLogger("grund")
GRUNTER_TIMEOUT = 600  # seconds; --grunter-timeout
LOG_MAX = 64 * 1024    # bytes of one grunter call's output kept in job.log
STDOUT_MAX = 1 << 20   # bytes of grunter's stdout read (result names)
MAX_TRIES = 3     # a command failing this often is given up (and said so on the job)
MAX_CRASHES = 10  # ... and one that grund died in this often (a command that kills grund)
PUSH_TRIES = 10
GIT_ORPHAN_WAIT = 120  # seconds a new grund waits for the gits of a killed one
RUNNING = "grund-running"  # in a jobs working copy's .git: <jobid>, flock held while its grunter runs
LOG_BYTES, LOG_KEEP = 1_000_000, 3  # grund.log rotates at 1 MB, keeping grund.log.1 .. .3


class AlreadyRunning(GruntError):
    """Another grund holds the lock."""


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
        self.beat_at = 0.0              # when the last heartbeat was written
        self.beat_blobs: list[str] = []  # the heartbeat blobs written so far
        self.beat_key: tuple = ()        # the last heartbeat without its time
        self.problem = ""        # why grund cannot work on it now (out of space ...)
        self.room_failed = None  # [commit, path] of a command stopped for lack of room
        self.swept = False       # this grund has removed the stale locks of its working copies

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
                 refresh: float = 300.0, grunter_timeout: float = GRUNTER_TIMEOUT):
        self.server = server
        self.grunter_timeout = grunter_timeout
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
        config.private(self.root)
        path = os.path.join(self.root, "grund.lock")
        self.lockf = open(path, "a+")
        try:
            fcntl.flock(self.lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.lockf.seek(0)
            pid = self.lockf.read().strip() or "?"
            if not restart:
                raise AlreadyRunning(f"grund is already running for server {self.server} (pid {pid}); "
                                 "stop it first, or use: grund restart") from None
            if pid.isdigit():
                log.info("restart: stopping grund pid %s", pid)
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
            if not flock_within(self.lockf, 60):
                raise GruntError(f"grund pid {pid} did not stop within 60 s")
        self.write_pid()

    def write_pid(self) -> None:
        self.lockf.seek(0)
        self.lockf.truncate()
        self.lockf.write(f"{os.getpid()}\n")
        self.lockf.flush()

    def detach(self) -> bool:
        """Go on in a new background process of its own session; True in that process.

        The lock is taken before, and the child inherits it (an flock belongs
        to the open file, which the parent's exit does not close for the
        child), so two cron runs at the same moment never start two grunds.
        """
        if os.fork() != 0:
            return False
        os.setsid()
        os.chdir("/")   # hold no directory the user may want to unmount
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        self.write_pid()
        return True

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

    def wait_for_orphans(self) -> None:
        """Hold ``grund.children``, which every git that grund starts inherits.

        A kill -9 of grund leaves its children running; the lock stays taken
        until the last of them ends.  Waiting for it here means a new grund
        never removes a ``*.lock`` file that a git of the old one still holds.
        (grunter calls hold a lock of their own job instead: see grunter().)
        """
        self.childf = open(os.path.join(self.root, "grund.children"), "a+")
        if not flock_within(self.childf, GIT_ORPHAN_WAIT):
            log.warning("git processes of an earlier grund still run after %d s; going on",
                        GIT_ORPHAN_WAIT)
        G.INHERIT_FDS = (self.childf.fileno(),)

    def run(self) -> int:
        runtime.install(self.rt)
        self.open_fifo()
        old = {sig: signal.signal(sig, self.on_signal)
               for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            self.wait_for_orphans()
            return self.loop()
        finally:
            G.INHERIT_FDS = ()
            for sig, handler in old.items():
                signal.signal(sig, handler)
            os.close(self.fifo_r)
            os.close(self.fifo_w)
            if hasattr(self, "childf"):
                self.childf.close()
            self.lockf.close()

    def loop(self) -> int:
        log.info("grund %d serving %s (%s), every %.1f s", os.getpid(), self.server,
                 self.root, self.interval)
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

    def clear_stale_locks(self, st: ProjectState) -> None:
        """A git killed with grund leaves *.lock files; they predate this grund.

        Once per project and grund, before its first git there: an idle
        project's working copies are not even walked.
        """
        if st.swept:
            return
        for kind in ("jobs", "results"):
            for p in G.remove_stale_locks(S.wc_path(self.server, st.proj, kind), self.started):
                log.warning("removing stale %s", p)
        st.swept = True

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
            try:
                if sig != seen.get("sig") or (seen.get("watch") and self.refresh_due(st)):
                    self.raced = False
                    self.process(st)
                    # the bare repo now holds our HEAD (pushed, or nothing to
                    # push); a push that raced a client's merged commits grund has
                    # not looked at yet: leave the state unremembered, look again
                    if not self.raced and not self.stop:
                        st.remember(sig, G.out("rev-parse", "HEAD", cwd=st.jobs))
                    if st.problem or os.path.exists(os.path.join(st.bare, P.PROBLEM_REF)):
                        self.set_problem(st, "")
                self.beat(st)   # no git: a blob and a ref written by hand (heartbeat.py)
            except (GruntError, OSError) as e:
                why = no_room(e)
                if why:
                    self.set_problem(st, f"grund cannot write in {st.jobs}: {why}; "
                                         "commands are kept and run once there is room")
                else:
                    log.error("%s: %s (will retry)", proj, e)
            except Exception:  # a bug: keep serving the other projects
                log.exception("%s: internal error (a bug in grund; will retry)", proj)

    def set_problem(self, st: ProjectState, text: str) -> None:
        """Say (or stop saying) why grund cannot work on a project: its log, and
        a ref in the bare jobs repo that every grunt command fetches and shows."""
        if text and text != st.problem:
            log.error("%s: %s", st.proj, text)
        elif not text and st.problem:
            log.info("%s: can write again", st.proj)
        st.problem = text
        try:
            if text:
                blob = G.git("hash-object", "-w", "--stdin", cwd=st.bare, input=text.encode()).decode().strip()
                G.git("update-ref", P.PROBLEM_REF, blob, cwd=st.bare)
            else:
                G.git("update-ref", "-d", P.PROBLEM_REF, cwd=st.bare)
        except GruntError as e:  # the bare repo may be out of room as well
            log.error("%s: cannot record the problem for clients: %s", st.proj, e)

    def process(self, st: ProjectState) -> None:
        self.clear_stale_locks(st)
        for kind in ("jobs", "results"):
            S.ensure_wc(self.server, st.proj, kind)
        G.git("fetch", "-q", "--no-recurse-submodules", "origin", cwd=st.jobs)
        cur = self.load_cursor(st)
        self.merge(st.jobs)
        work = self.worklist(st, cur)
        if work:
            self.beat(st, pending=len(work), cursor=cur.get("commit"))
        for i, (commit, path) in enumerate(work):
            if self.stop:
                break
            if commit == cur.get("commit_partial") and path in cur.get("done", []):
                continue
            resumed = cur.get("inflight") == [commit, path]
            tries = cur.get("tries", 0) if resumed else 0      # ended by an error
            crashes = cur.get("crashes", 0) if resumed else 0  # ended by grund's death
            if resumed and cur.get("running") and st.room_failed != [commit, path]:
                crashes += 1
            cur.update(inflight=[commit, path], tries=tries, crashes=crashes, running=True)
            atomic_json(st.cursor_path, cur)
            try:
                if tries >= MAX_TRIES or crashes >= MAX_CRASHES:
                    self.give_up(st, path, tries, crashes)
                else:
                    self.command(st, path, resumed)
            except (GruntError, OSError) as e:
                if no_room(e):  # not the command's fault: it waits for room
                    st.room_failed = [commit, path]
                else:
                    cur["tries"] = tries + 1
                cur["running"] = False
                try:
                    atomic_json(st.cursor_path, cur)
                except OSError:
                    pass
                raise
            st.room_failed = None
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
        self.beat(st, pending=0)

    def beat(self, st: ProjectState, pending: int | None = None, cursor: str | None = None) -> None:
        """Write the heartbeat: when due (every H.EVERY s), or when the work changed."""
        now = time.time()
        if not st.beat_at:
            self.take_over_beat(st)
        if pending is None:
            if now - st.beat_at < H.EVERY:
                return
            pending = 0
            unfinished = len(st.load_seen().get("watch", []))   # idle: as last looked at
        else:
            unfinished = len(unfinished_jobs(st.jobs))
        if cursor is None:
            cursor = self.load_cursor(st).get("commit") if os.path.isdir(st.jobs) else None
        key = (pending, cursor, unfinished)
        if key == st.beat_key and now - st.beat_at < H.EVERY:
            return
        H.write(st.bare, {"time": P.now_ts(), "unix": int(now), "version": __version__,
                          "pid": os.getpid(), "host": socket.gethostname(), "cursor": cursor,
                          "pending": pending, "unfinished": unfinished, "every": H.EVERY},
                st.beat_blobs)
        st.beat_at, st.beat_key = now, key

    def take_over_beat(self, st: ProjectState) -> None:
        """A new grund (``--once`` from cron) goes on from the heartbeat of an earlier one
        of the same version on this host: an idle project's heartbeat younger than
        H.EVERY is not written again by every run."""
        found = H.read_own(st.bare)
        if found is None:
            return
        blob, data = found
        if data.get("version") != __version__ or data.get("host") != socket.gethostname():
            return
        try:
            st.beat_at = min(float(data["unix"]), time.time())
            st.beat_key = (data["pending"], data["cursor"], data["unfinished"])
        except (KeyError, TypeError, ValueError):
            st.beat_at = 0.0
            return
        st.beat_blobs = [blob]

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
        return H.pending_commands(st.jobs, cur.get("commit"), S.grund_email(self.server),
                                  st.proj, f"origin/{S.BRANCH}")

    def merge(self, wc: str) -> None:
        """Bring origin's new commits in; running jobs' files are left alone."""
        try:
            G.git("merge", "-q", "--no-edit", f"origin/{S.BRANCH}", cwd=wc, env=self.env)
        except G.GitError:
            if not self.mend_merge(wc):
                raise
            G.git("merge", "-q", "--no-edit", f"origin/{S.BRANCH}", cwd=wc, env=self.env)

    def mend_merge(self, wc: str) -> bool:
        """Finish what a merge killed with grund left behind; True if it did anything.

        A merge killed after writing the index leaves MERGE_HEAD: grund and the
        clients never write the same files, so the index holds the whole merge
        and it is committed; so is what a grund killed between ``git add`` and
        ``git commit`` left staged.  One killed while writing files leaves them as
        untracked or modified files that the next merge refuses to overwrite;
        those whose content is exactly origin's (what the merge wrote) go back
        to the index's state, and the merge is done again.
        """
        if os.path.exists(os.path.join(wc, ".git", "MERGE_HEAD")):
            if G.git("diff", "--name-only", "--diff-filter=U", cwd=wc).strip():
                return False
            log.warning("%s: concluding a merge an earlier grund left unfinished", wc)
            G.git("-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "--no-edit",
                  cwd=wc, env=self.env)
            return True
        if not G.ok("diff", "--cached", "--quiet", cwd=wc):
            # killed between `git add` and `git commit`: its own job files
            log.warning("%s: committing what an earlier grund left staged", wc)
            S.commit(wc, self.server, "job files staged before a restart")
            return True
        theirs = f"origin/{S.BRANCH}"
        changed = G.zsplit(G.git("diff", "-z", "--name-only", "--no-renames",
                                 f"HEAD...{theirs}", cwd=wc))
        present = [p for p in changed if os.path.lexists(os.path.join(wc, p))]
        if not present:
            return False
        blobs = {}
        for entry in G.zsplit(G.git("ls-tree", "-r", "-z", theirs, "--", *present, cwd=wc)):
            meta, path = entry.split("\t", 1)
            mode, _, sha = meta.split()
            blobs[path] = (mode, sha)
        tracked = set(G.zsplit(G.git("ls-files", "-z", "--cached", "--", *present, cwd=wc)))
        leftovers = [p for p in present if p in blobs and worktree_blob(wc, p, blobs[p][0]) == blobs[p][1]]
        if not leftovers:
            return False
        log.warning("%s: undoing %d file(s) an interrupted merge left behind", wc, len(leftovers))
        back = [p for p in leftovers if p in tracked]
        for p in leftovers:
            if p not in tracked:
                os.unlink(os.path.join(wc, p))
        if back:
            G.git("checkout-index", "-f", "-z", "--stdin", cwd=wc,
                  input=b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in back))
        return True

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
                C.backoff(attempt)
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
        elif cmd in ("delete", "archive", "nuke", "undelete"):
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
            if self.finished(jobdir):  # it ended already; the copy may have been cut short
                self.copy_results(st, folder, jid, jobdir, [])
        elif cmd == "submit" and resumed and grunter_running(jobdir):
            self.joblog(jobdir, "submit: grund was interrupted while grunter.py submit ran, "
                                "and it still runs; not submitted again")
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

    def give_up(self, st: ProjectState, path: str, tries: int, crashes: int) -> None:
        """A command that failed MAX_TRIES times is skipped, so the rest go on.

        It is marked on the job (job.interrupted, shown by grunt jobs) so that
        it is never lost silently: the user sends it again.
        """
        why = (f"{tries} failed tries" if tries >= MAX_TRIES else
               f"it was interrupted {crashes} times (grund stopped while running it)")
        log.error("%s: giving up on %s after %s (see the log above)", st.proj, path, why)
        jobdir = os.path.join(st.jobs, os.path.dirname(path))
        if os.path.isdir(jobdir):
            msg = f"{os.path.basename(path)}: grund gave up after {why}; see grund's log"
            self.joblog(jobdir, msg)
            cmd = os.path.basename(path)[len(P.CMD_PREFIX):]
            with open(os.path.join(jobdir, P.INTERRUPTED), "a", encoding="utf-8") as f:
                f.write(f"{P.now_ts()} {cmd}\n")
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
        # The job's lock, held by grunter as long as it runs, even when grund
        # is killed meanwhile: a resumed submit sees that it still runs.
        with open(running_lock(jobdir, create=True), "a") as lockf:
            try:
                fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # an earlier grund's grunter still runs for this job
                pass
            rc, out, err, logged = run_capped(runtime.grunter_argv(self.rt, cmd), jobdir,
                                              self.grunter_timeout, (lockf.fileno(),))
        if rc is None:
            rc = -1
            err += (f"grunter.py {cmd} did not finish within {self.grunter_timeout:g} s "
                    "and was stopped (grund --grunter-timeout)\n")
            logged += err[-200:]
        if not (quiet and rc == 0 and not logged.strip()):
            self.joblog(jobdir, f"grunter.py {cmd}: exit {rc}", logged)
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
        target = {"nuke": None, "undelete": "active"}.get(cmd, cmd)
        if target == folder or cmd == "undelete" and folder != "delete":
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
        real_dirs: dict[str, str] = {}
        copied, refused = [], []
        for name in files:
            for rel in self.expand(jobdir, name):
                src = os.path.join(jobdir, rel)
                norm = os.path.normpath(rel)
                if (os.path.isabs(rel) or norm.startswith("..") or
                        not realpath(src, real_dirs).startswith(real_job + os.sep)):
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
            # one pack of the copies' blobs: git add finds them there instead of
            # writing a loose object per file
            G.write_blobs(st.results, [os.path.join(dest_root, n) for n in copied])
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


ROOM_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}
ROOM_WORDS = ("No space left on device", "Disk quota exceeded", "Read-only file system",
              "Permission denied")


def no_room(e: BaseException) -> str:
    """Why grund could not write (out of space, quota, read-only, no permission), or ""."""
    if isinstance(e, OSError) and e.errno in ROOM_ERRNOS:
        return os.strerror(e.errno).lower()
    if isinstance(e, G.GitError):
        return next((w.lower() for w in ROOM_WORDS if w in e.stderr), "")
    return ""


def worktree_blob(wc: str, rel: str, mode: str) -> str | None:
    """The git blob id of a working-tree entry (as ``mode`` expects), None if it is not one."""
    path = os.path.join(wc, rel)
    try:
        if mode == "120000":
            data = os.readlink(path).encode("utf-8", "surrogateescape")
        elif os.path.islink(path) or not os.path.isfile(path):
            return None
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError:
        return None
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def flock_within(f, seconds: float) -> bool:
    """Take an exclusive flock on ``f``, waiting up to ``seconds``; False if not."""
    deadline = time.time() + seconds
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.time() > deadline:
                return False
            time.sleep(0.05)


def running_lock(jobdir: str, create: bool = False) -> str:
    """The file whose flock a job's grunter.py calls hold (outside the job directory)."""
    d = os.path.join(P.job_wc(jobdir), ".git", RUNNING)
    if create:
        os.makedirs(d, exist_ok=True)
    return os.path.join(d, os.path.basename(os.path.dirname(os.path.abspath(jobdir))))


def grunter_running(jobdir: str) -> bool:
    """Does a grunter.py call of this job still run (an earlier grund's, killed)?"""
    try:
        with open(running_lock(jobdir), "r") as f:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
    except BlockingIOError:
        return True
    except FileNotFoundError:
        return False


def run_capped(argv: list[str], cwd: str, timeout: float,
               pass_fds: tuple[int, ...] = ()) -> tuple[int | None, str, str, str]:
    """(exit code or None on timeout, stdout, stderr, both for job.log), memory bounded.

    Output goes to temporary files, not pipes: a program printing 10 MB costs
    no memory, and a background process it leaves holding the output cannot
    keep grund waiting.  On timeout its whole process group is killed.
    stdout is read up to STDOUT_MAX; what job.log keeps is cut by ``clip``
    (stdout first, then stderr).
    """
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                             start_new_session=True, pass_fds=pass_fds)
        try:
            rc: int | None = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
        fo.seek(0)
        out = fo.read(STDOUT_MAX).decode("utf-8", "replace")
        err = clip(fe)
        return rc, out, err, clip(fo) + err


def clip(f) -> str:
    """A file's text, cut to LOG_MAX (head and tail) with a line saying so."""
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size <= LOG_MAX:
        return f.read().decode("utf-8", "replace")
    head = f.read(LOG_MAX // 2).decode("utf-8", "replace")
    f.seek(size - LOG_MAX // 2)
    tail = f.read().decode("utf-8", "replace")
    return (f"{head}\n[grund: {size - LOG_MAX} bytes of output cut here; "
            f"job.log keeps {LOG_MAX} of {size}]\n{tail}")
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


def realpath(path: str, dirs: dict[str, str]) -> str:
    """os.path.realpath(path), each directory resolved once (``dirs`` keeps them)."""
    d, base = os.path.split(path)
    if base in ("", ".", "..") or os.path.islink(path):
        return os.path.realpath(path)
    if d not in dirs:
        dirs[d] = os.path.realpath(d)
    return os.path.join(dirs[d], base)


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


def log_to(path: str | None, stream, quiet: bool) -> list[logging.Handler]:
    """grund's log handlers: the rotating file ``path`` (INFO), and ``stream`` unless None."""
    fmt = logging.Formatter("%(asctime)s grund: %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = []
    if path:
        handlers.append(logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_BYTES, backupCount=LOG_KEEP, encoding="utf-8"))
    if stream is not None:
        handlers.append(logging.StreamHandler(stream))
        handlers[-1].setLevel(logging.WARNING if quiet else logging.INFO)
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    log.setLevel(logging.INFO)
    return handlers


def _fail(msg: str, handlers: list[logging.Handler]) -> None:
    """An error that ends grund: into its log once it has one, else on stderr."""
    if handlers:
        log.error("error: %s", msg)
    else:
        print(f"grund: error: {msg}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="grund", description="grunt's daemon on the server")
    ap.add_argument("action", nargs="?", choices=["run", "restart"], default="run",
                    help="restart: stop a running grund first")
    ap.add_argument("--once", action="store_true", help="process everything pending and exit")
    ap.add_argument("--cron", action="store_true",
                    help="start grund in the background unless it runs already (silent); "
                         "for crontab: */5 * * * * ~/bin/grund --cron")
    ap.add_argument("--interval", type=float, default=float(os.environ.get("GRUND_INTERVAL", 5)),
                    help="seconds between checks when nothing wakes grund (default 5)")
    ap.add_argument("--refresh", type=float, default=300.0,
                    help="seconds between status checks of unfinished jobs (default 300)")
    ap.add_argument("--grunter-timeout", type=float, default=GRUNTER_TIMEOUT, metavar="SECONDS",
                    help=f"stop a grunter.py call after this long (default {GRUNTER_TIMEOUT})")
    ap.add_argument("-q", "--quiet", action="store_true", help="log only warnings on stderr")
    ap.add_argument("--version", action="version", version=f"grund {__version__}")
    a = ap.parse_args(argv)
    handlers: list[logging.Handler] = []
    try:
        server = config.default_server()
        d = Grund(server, a.interval, a.once and not a.cron, a.refresh, a.grunter_timeout)
        try:
            d.lock(restart=a.action == "restart")
        except AlreadyRunning:
            if a.cron:
                return 0  # the one grund is serving: cron stays silent
            raise
        if a.cron and not d.detach():
            return 0
        handlers = log_to(os.path.join(d.root, "grund.log"), None if a.cron else sys.stderr,
                          a.quiet)
        return d.run()
    except GruntError as e:
        _fail(str(e), handlers)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        _fail("no space left on device" if e.errno == errno.ENOSPC else str(e), handlers)
        return 1
    except Exception:  # a bug: show where, and say that it is one
        if not handlers:
            handlers = log_to(None, sys.stderr, False)
        log.exception("internal error (a bug in grund, please report it with these lines)")
        return 1
    finally:
        for h in handlers:
            log.removeHandler(h)
            h.close()
