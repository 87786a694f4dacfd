"""One project as grund serves it: what it remembers between rounds, and one round.

A round of a project, when anything changed (``serve``):

1. fetch the bare jobs repo and merge it into grund's working copy;
2. run the commands of the work list, exactly once each (cursor.py);
3. every ``--refresh`` seconds, ask the scheduler about unfinished jobs;
4. commit the job files running jobs wrote, copy the results of jobs that ended;
5. push both working copies, and write the heartbeat.

Idle cost: a few ``stat`` calls and file reads (``signature``), no git process.
"""
import glob
import json
import logging
import os
import socket
import time
from typing import Callable, NamedTuple

from .. import __version__, config, git as G, heartbeat as H, pending
from ..errors import GruntError
from ..gruntlib import protocol as P
from ..gruntlib.jobdir import JobDir
from . import commands, followup, recovery, repos
from .cursor import MAX_TRIES, Attempt, Cursor
from .grunter import Result, finish_earlier_submit, run_grunter, sweep
from .hooks import EndHooks
from .results import finish_ended
from .workcopy import WorkCopy, ended_among

log = logging.getLogger("grund")

PROBLEM_AFTER = 30.0   # seconds of failing rounds before clients are told


class Settings(NamedTuple):
    """What every project of one grund shares."""

    server: str
    runtime: str            # where gruntlib is installed
    grunter_timeout: float  # seconds a grunter.py call may take
    refresh_every: float    # seconds between status checks of unfinished jobs
    hooks: "EndHooks | None" = None   # the user's end hook (hooks.py)


def _stat(path: str) -> "list | None":
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


class ServedProject:
    """One project of this grund: its repositories and its memory between rounds."""

    def __init__(self, settings: Settings, proj: str):
        self.settings = settings
        self.proj = proj
        self.bare = config.bare_path(settings.server, proj, "jobs")
        self.jobs = WorkCopy(config.wc_path(settings.server, proj, "jobs"), settings.server)
        self.results = WorkCopy(config.wc_path(settings.server, proj, "results"), settings.server)
        self.seen = None          # type: dict | None  # loaded from SEEN on first use
        self.beat_at = 0.0        # when the last heartbeat was written
        self.beat_blobs = []      # type: list[str]  # the heartbeat blobs written so far
        self.beat_key = ()        # type: tuple  # the last heartbeat without its time
        self.beat_data = {}       # type: dict  # the last heartbeat written
        self.problem = ""         # why grund cannot work on it now (out of space ...)
        self.room_failed = None   # type: list[str] | None  # [commit, path] stopped for room
        self.swept = False        # this grund has removed its working copies' stale locks
        self.failing_since = None  # type: float | None  # rounds have failed since then
        self.quiet = None          # type: tuple | None  # quick_key() of a round with nothing to do
        self.quick_paths = ()      # type: tuple  # the files quick_key() looks at
        self.quick_watch = None    # type: list[str] | None  # ... for these watched jobs

    def state_file(self, name: str) -> str:
        return P.state_file(self.jobs.path, name)

    # -- change detection ----------------------------------------------------
    def signature(self, watch: "list[str]") -> list:
        """Cheap change detection, no subprocess.

        The bare repo's tip (a push), the marker the runners touch, grund's
        cursor, and the directories of the unfinished jobs in ``watch`` (a job
        script of an older grunter writes job.start, job.end, ... without
        touching the marker; a new file changes its directory).
        """
        return [repos.read_tip(self.bare), _stat(self.state_file(P.CHANGED_MARKER)),
                _stat(self.state_file(P.CURSOR)),
                [_stat(os.path.join(self.jobs.path, rel)) for rel in watch]]

    def quick_key(self, watch: "list[str]") -> "tuple[float, list]":
        """(now, the stats of what a change shows in): the bare repo's folders that
        a ref update (git renames the new ref file in), packed refs or a killed
        push's lock change, the runners' marker, and the watched job directories.
        One ``stat`` each, nothing read: an idle project's whole cost in a round.
        (The cursor is written by grund alone, in a round that looks again after.)"""
        if self.quick_watch != watch:
            self.quick_watch = list(watch)
            self.quick_paths = (
                os.path.join(self.bare, "refs", "heads"), self.bare,
                self.state_file(P.CHANGED_MARKER),
                *(os.path.join(self.jobs.path, rel) for rel in watch))
        key = []
        for path in self.quick_paths:
            try:
                st = os.stat(path)
            except OSError:
                key.append(None)
                continue
            key.append((st.st_mtime_ns, st.st_size, st.st_ino))
        return time.time(), key

    def settled(self, now: float, key: list) -> bool:
        """Nothing in ``key`` changed within the last second, and no lock of a killed
        push is there: a key that cannot hide a change made in the same clock tick
        as its stats (git's racy index entries), so later rounds may trust it."""
        return (all(st is None or st[0] < (now - 1.0) * 1e9 for st in key)
                and not any(os.path.exists(os.path.join(self.bare, name))
                            for name in recovery.BARE_LOCKS))

    def load_seen(self) -> dict:
        """What the last successful round left: {"sig": signature, "watch": [job dirs]}.

        Kept in a file, so ``grund --once`` (cron) skips unchanged projects too.
        """
        if self.seen is None:
            text = P.read_text(self.state_file(P.SEEN))
            try:
                self.seen = json.loads(text) if text else {}
            except ValueError:
                self.seen = {}
        return self.seen

    def remember(self, before: list, tip: str) -> None:
        """After a round: the state it left, with the tip grund made the bare repo hold."""
        watch = followup.unfinished_jobs(self.jobs.path)
        sig = self.signature(watch)
        sig[0], sig[1] = tip, before[1]  # the marker as it was before: touched meanwhile, look again
        self.seen = {"sig": sig, "watch": watch}
        P.write_atomic(self.state_file(P.SEEN), json.dumps(self.seen) + "\n", mode=0o600)

    # -- one round -----------------------------------------------------------
    def serve(self, started: float, stopping: "Callable[[], bool]", again: bool = True) -> None:
        """This round's work for the project, when anything changed; then the heartbeat.

        What grund can mend (recovery.py) is mended and the round done again at
        once; other errors are logged, and the round is tried again later.
        """
        seen = self.load_seen()
        now, quick = self.quick_key(seen.get("watch", []))
        if quick == self.quiet and not (seen.get("watch") and self.refresh_due()):
            self.beat()   # nothing changed since a round that had nothing to do
            return
        self.quiet = None
        sig = self.signature(seen.get("watch", []))
        recovery.mend_bare(self.bare)   # two stats when there is nothing to mend
        try:
            if sig != seen.get("sig") or (seen.get("watch") and self.refresh_due()):
                raced = self.process(started, stopping)
                # the bare repo now holds our HEAD (pushed, or nothing to push);
                # a push that raced a client's merged commits grund has not
                # looked at yet: leave the state unremembered, look again
                if not raced and not stopping():
                    self.remember(sig, self.jobs.head())
                self.failing_since = None
                if self.problem or os.path.exists(os.path.join(self.bare, P.PROBLEM_REF)):
                    self.set_problem("")
            elif not self.problem and self.settled(now, quick):
                self.quiet = quick
            self.beat()   # no git: a blob and a ref written by hand (heartbeat.py)
        except (GruntError, OSError) as e:
            why = recovery.no_room(e)
            if why:
                self.set_problem(f"grund cannot write in {self.jobs.path}: {why}; "
                                 "commands are kept and run once there is room")
            elif self.mend(e):
                if again:
                    self.serve(started, stopping, again=False)
            else:
                log.error("%s: %s (will retry)", self.proj, e)
                self.failing(str(e))
        except Exception as e:  # a bug: keep serving the other projects
            log.exception("%s: internal error (a bug in grund; will retry)", self.proj)
            self.failing(f"internal error: {e!r}")

    def mend(self, e: BaseException) -> bool:
        """Mend what made a round fail, when grund can do that safely (recovery.py)."""
        if not isinstance(e, G.GitError):
            return False
        lock = recovery.stale_lock_in(e.stderr)
        repos = [self.jobs.path, self.results.path, self.bare,
                 config.bare_path(self.settings.server, self.proj, "results")]
        if lock:
            repo = next((r for r in repos if lock.startswith(r + os.sep)), None)
            return bool(repo) and recovery.remove_if_stale(lock, repo)
        wc = next((w for w in (self.jobs, self.results) if e.cwd == w.path), None)
        if wc is None or not recovery.damaged(e.stderr):
            return False
        try:
            recovery.rebuild(wc.path, config.bare_path(self.settings.server, self.proj,
                                                       "jobs" if wc is self.jobs else "results"),
                             wc is self.jobs, wc.env)
        except (GruntError, OSError) as err:   # the bare repo itself may be damaged
            log.error("%s: cannot rebuild %s: %s", self.proj, wc.path, err)
            return False
        self.swept = False
        return True

    def failing(self, why: str) -> None:
        """A round failed: said to clients (the problem ref, the heartbeat) once it has
        kept failing for PROBLEM_AFTER seconds, so a passing hiccup alarms no one."""
        now = time.time()
        if self.failing_since is None:
            self.failing_since = now
        if now - self.failing_since >= PROBLEM_AFTER:
            self.set_problem(f"grund cannot process project {self.proj}: {why}")
            try:
                self.beat()
            except (GruntError, OSError):
                pass

    def process(self, started: float, stopping: "Callable[[], bool]") -> bool:
        """Fetch, run the work list, refresh, collect, push; True when a push raced."""
        self.clear_stale_locks(started)
        for kind in config.KINDS:
            repos.ensure_wc(self.settings.server, self.proj, kind)
        self.jobs.fetch()
        cur = self.load_cursor()
        self.jobs.merge()
        work = pending.pending_commands(self.jobs.path, cur.commit, self.settings.server,
                                        self.proj, f"origin/{P.BRANCH}")
        if work:
            self.beat(pending=len(work), cursor=cur.commit)
        for i, (commit, path) in enumerate(work):
            if stopping():
                break
            if cur.is_done(commit, path):
                continue
            self.run_command(cur, commit, path)
            cur.done_with(commit, path, i + 1 == len(work) or work[i + 1][0] != commit)
        if not stopping():
            cur.catch_up(self.jobs.tip())
        self.refresh()
        self.collect_changes()
        self.follow_up()
        # the results first, then the heartbeat naming their tip, then the jobs: a
        # client that sees a job's end also sees that its results moved on
        raced = self.results.push()
        self.announce_results()
        raced = self.jobs.push() or raced
        self.beat(pending=0)
        return raced

    def run_command(self, cur: Cursor, commit: str, path: str) -> None:
        """One command of the work list, in flight in the cursor while it runs."""
        attempt = cur.begin(commit, path, self.room_failed == [commit, path])
        try:
            if attempt.hopeless:
                self.give_up(path, attempt)
            else:
                commands.run(path, attempt, self.jobs, self.results, self.grunter,
                             self.earlier_submit, self.attempt_ended, self.commit_job)
        except (GruntError, OSError) as e:
            room = bool(recovery.no_room(e))  # not the command's fault: it waits for room
            self.room_failed = [commit, path] if room else None
            cur.failed(counts=not room)
            raise
        self.room_failed = None

    def load_cursor(self) -> Cursor:
        cur = Cursor.load(self.state_file(P.CURSOR))
        if cur is not None:
            return cur
        if os.path.exists(self.state_file(P.CURSOR)):
            log.error("%s: unreadable cursor %s; starting after grund's last commit",
                      self.proj, self.state_file(P.CURSOR))
        # no cursor: a new working copy.  Everything up to grund's own last
        # commit was handled by an earlier grund (it commits after each command).
        last = G.out("log", "-1", "--format=%H", f"--author={P.grund_email(self.settings.server)}",
                     f"origin/{P.BRANCH}", cwd=self.jobs.path)
        cur = Cursor(self.state_file(P.CURSOR), last or None)
        cur.save()
        return cur

    def grunter(self, job: JobDir, cmd: str, quiet: bool = False) -> Result:
        return run_grunter(job, cmd, self.settings.runtime, self.settings.grunter_timeout, quiet)

    def earlier_submit(self, job: JobDir) -> "Result | None":
        return finish_earlier_submit(job, self.settings.grunter_timeout)

    def clear_stale_locks(self, started: float) -> None:
        """A git killed with grund leaves *.lock files; they predate this grund.

        Once per project and grund, before its first git there: an idle
        project's working copies are not even walked.
        """
        if self.swept:
            return
        for wc in (self.jobs, self.results):
            for p in G.remove_stale_locks(wc.path, started):
                log.warning("removing stale %s", p)
        self.swept = True

    def give_up(self, path: str, attempt: Attempt) -> None:
        """A command that failed too often is skipped, so the rest go on.

        It is marked on the job (job.interrupted, shown by grunt jobs) so that
        it is never lost silently: the user sends it again.
        """
        why = (f"{attempt.tries} failed tries" if attempt.tries >= MAX_TRIES else
               f"it was interrupted {attempt.crashes} times (grund stopped while running it)")
        log.error("%s: giving up on %s after %s (see the log above)", self.proj, path, why)
        where, cmd = P.parse_command(path)
        job = JobDir(where.under(self.jobs.path))
        if os.path.isdir(job.path):
            msg = f"{os.path.basename(path)}: grund gave up after {why}; see grund's log"
            job.log(msg)
            with open(job.file(P.INTERRUPTED), "a", encoding="utf-8") as f:
                f.write(f"{P.now_ts()} {cmd}\n")
            if cmd == "submit" and not job.submitted():
                P.write_atomic(job.file(P.ERROR), msg + "\n")
            self.commit_job(job, f"gave up on {path}")

    # -- jobs that run -------------------------------------------------------
    def refresh_due(self) -> bool:
        """Time to ask the scheduler about unfinished jobs again?  (one stat)"""
        path = self.state_file(P.REFRESHED)
        try:
            return time.time() - os.stat(path).st_mtime >= self.settings.refresh_every
        except FileNotFoundError:  # a project seen for the first time: start the clock
            if os.path.isdir(os.path.dirname(path)):
                P.write_atomic(path, "")
            return False

    def refresh(self) -> None:
        """Run ``grunter.py status`` for the unfinished jobs, every --refresh seconds.

        A job the scheduler killed outright (out of memory, or a program that
        ignores SIGTERM at its time limit) cannot record its own end; without
        this it would show Running until someone ran ``grunt status``.  The
        runner asks the scheduler once for all of them.
        """
        if not self.refresh_due():
            return
        P.write_atomic(self.state_file(P.REFRESHED), "")
        for where in P.job_dirs(self.jobs.path, ("active",)):
            job = JobDir(where.under(self.jobs.path))
            if not job.at_rest():
                self.grunter(job, "status", quiet=True)

    def collect_changes(self) -> None:
        """Commit job files the running jobs wrote; finish jobs that ended."""
        wc = self.jobs
        if not glob.glob(os.path.join(glob.escape(wc.path), "active", "*", "*", "job.*")):
            return  # git add fails on a pathspec that matches no file
        wc.git("add", "-A", "-f", "--", ":(glob)active/*/*/job.*")
        staged = G.zsplit(wc.git("diff", "--cached", "--name-only", "-z"))
        if not staged:
            return
        # the results of the jobs that ended are copied before their end is
        # committed: a grund killed in between finds the end staged again, and copies again
        done = [job for job in ended_among(wc.path, staged) if self.finish(job)]
        if done:
            wc.git("add", "-A", "-f", "--", ":(glob)active/*/*/job.*")
        wc.commit("job files of " + " ".join(sorted({p.split('/')[1] for p in staged}))[:200])
        self.finished(done)

    def commit_job(self, job: JobDir, msg: str, was_at_rest: bool = True) -> None:
        """Commit one job's files.  A job that ended meanwhile (its end is among
        them, or it was not at rest before the command) is finished first."""
        staged = self.jobs.stage_job(job)
        ended = (ended_among(self.jobs.path, staged)
                 or not was_at_rest and job.submitted() and job.at_rest())
        # an end written after the look above is committed now: finished here, not later
        done = [job] if ended and self.finish(job) else []
        if done:
            self.jobs.add_job(job)
        self.jobs.commit(msg)
        self.finished(done)

    def finish(self, job: JobDir) -> bool:
        """A job whose end is to be committed: its results copied (False: not at rest)."""
        if not finish_ended(job, self.results, self.grunter):
            return False
        log.info("%s: %s ended", self.proj, job.jobid)
        return True

    def finished(self, done: "list[JobDir]") -> None:
        """After the commit of their end: the hooks (with a retry policy, once grund decided)."""
        for job in done:
            if not job.has(P.RETRY):
                st = job.state()
                self.attempt_ended(job, {"status": st.status, "exitcode": st.exit_code})
            sweep(job)

    def follow_up(self) -> None:
        """Held jobs whose parent ended, retries (followup.py); one commit per job."""
        for job in followup.follow_up(self.jobs.path, self.submit_once,
                                      lambda j: self.grunter(j, "status", quiet=True),
                                      self.attempt_ended):
            self.commit_job(job, f"follow-up {job.jobid}")

    def submit_once(self, job: JobDir) -> None:
        """Submit a job grund decided to submit (a held one, a retry): exactly once,
        also when an earlier grund died while its grunter.py submit ran."""
        if not job.submitted() and self.earlier_submit(job) is None:
            self.grunter(job, "submit")

    def attempt_ended(self, job: JobDir, record: dict) -> None:
        """An attempt of a job ended (with a retry policy: grund decided on it)."""
        if self.settings.hooks is not None:
            self.settings.hooks.ended(job, record.get("status", ""), record.get("exitcode"),
                                      int(record.get("attempt", 1)), bool(record.get("next")))

    # -- what clients see of grund -------------------------------------------
    def set_problem(self, text: str) -> None:
        """Say (or stop saying) why grund cannot work on a project: its log, and
        a ref in the bare jobs repo that every grunt command fetches and shows."""
        if text and text == self.problem:
            return   # said already
        if text:
            log.error("%s: %s", self.proj, text)
        elif self.problem:
            log.info("%s: the problem is gone", self.proj)
        self.problem = text
        try:
            if text:
                blob = G.git("hash-object", "-w", "--stdin", cwd=self.bare,
                             input=text.encode()).decode().strip()
                G.git("update-ref", P.PROBLEM_REF, blob, cwd=self.bare)
            else:
                G.git("update-ref", "-d", P.PROBLEM_REF, cwd=self.bare)
        except GruntError as e:  # the bare repo may be out of room as well
            log.error("%s: cannot record the problem for clients: %s", self.proj, e)

    def beat(self, pending: "int | None" = None, cursor: "str | None" = None,
             stopped: bool = False) -> None:
        """Write the heartbeat: when due (every H.EVERY s), or when the work changed.

        ``stopped``: grund stops cleanly; the clients say so at once, instead of
        when the heartbeat is ten minutes old."""
        now = time.time()
        if not self.beat_at:
            self.take_over_beat()
        if pending is None:
            if now - self.beat_at < H.EVERY and not stopped:
                return
            pending = 0
            unfinished = len(self.load_seen().get("watch", []))   # idle: as last looked at
        else:
            unfinished = len(followup.unfinished_jobs(self.jobs.path))
        if cursor is None:
            cur = Cursor.load(self.state_file(P.CURSOR))   # no git: a file read
            cursor = cur.commit if cur else None
        results = G.loose_ref(self.results.path, f"refs/remotes/origin/{P.BRANCH}")
        key = ("stopped",) if stopped else (pending, cursor, unfinished, self.problem, results)
        if key == self.beat_key and now - self.beat_at < H.EVERY:
            return
        data = {"time": P.now_ts(), "unix": int(now), "version": __version__,
                "pid": os.getpid(), "host": socket.gethostname(), "cursor": cursor,
                "pending": pending, "unfinished": unfinished, "every": H.EVERY,
                "problem": self.problem, "results": results}
        if stopped:
            data["stopped"] = True
        H.write(self.bare, data, self.beat_blobs)
        self.beat_at, self.beat_key, self.beat_data = now, key, data

    def announce_results(self) -> None:
        """The last heartbeat again, naming the results' new tip: written before the
        jobs are pushed, so its cursor still says what grund has pushed."""
        results = G.loose_ref(self.results.path, f"refs/remotes/origin/{P.BRANCH}")
        last = self.beat_data or (H.read_own(self.bare) or ("", {}))[1]
        if last and last.get("results") != results and not last.get("stopped"):
            self.beat_data = dict(last, results=results, time=P.now_ts(), unix=int(time.time()))
            H.write(self.bare, self.beat_data, self.beat_blobs)

    def take_over_beat(self) -> None:
        """A new grund (``--once`` from cron) goes on from the heartbeat of an earlier one
        of the same version on this host: an idle project's heartbeat younger than
        H.EVERY is not written again by every run."""
        found = H.read_own(self.bare)
        if found is None:
            return
        blob, data = found
        if (data.get("version") != __version__ or data.get("host") != socket.gethostname()
                or data.get("stopped")):
            return
        try:
            self.beat_at = min(float(data["unix"]), time.time())
            self.beat_key = (data["pending"], data["cursor"], data["unfinished"],
                             data.get("problem", ""), data.get("results"))
        except (KeyError, TypeError, ValueError):
            self.beat_at = 0.0
            return
        self.beat_blobs = [blob]
