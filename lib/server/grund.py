"""grund: the user-space daemon on the server.

One instance per user and server name, held by an ``fcntl.flock`` on
``grund.lock`` for the life of the process (a crash or kill -9 releases it).
The loop ``select()``s on a FIFO that the bare repos' post-receive hook and
the job scripts poke, after leaving the project's name in the marks folder
(``.grund-marks/<proj>``).  A round serves (project.py) the marked projects,
those whose last round left something to look at again (a change within the
last second, a failure, no room), and those whose heartbeat or status check is
due (a heap of times): an idle round reads the marks folder and nothing else,
whatever the number of projects.  Every ``--recheck`` seconds (and after a poke
without a mark, from an older hook or job script) a round looks at every
project, a few ``stat`` calls each, so a change that left no mark is caught
then.  Signal handlers only set a flag and poke the FIFO.
"""
import argparse
import errno
import fcntl
import heapq
import logging
import logging.handlers
import os
import select
import signal
import stat
import sys
import time

from .. import __version__, config, git as G, heartbeat as H, runtime
from ..errors import GruntError
from ..gruntlib import protocol as P
from . import repos, share
from .grunter import GRUNTER_TIMEOUT
from .hooks import HOOK_TIMEOUT, EndHooks
from .project import ServedProject, Settings

log = logging.getLogger("grund")
GIT_ORPHAN_WAIT = 120  # seconds a new grund waits for the gits of a killed one
LOG_BYTES, LOG_KEEP = 1_000_000, 3  # grund.log rotates at 1 MB, keeping grund.log.1 .. .3
RECHECK = 300.0  # seconds between rounds that look at every project (the safety net)


class AlreadyRunning(GruntError):
    """Another grund holds the lock."""


class Grund:
    def __init__(self, server: str, interval: float = 5.0, once: bool = False,
                 refresh: float = 300.0, grunter_timeout: float = GRUNTER_TIMEOUT,
                 hook_timeout: float = HOOK_TIMEOUT, recheck: float = RECHECK):
        self.server = server
        self.root = config.server_root(server)
        self.interval = interval
        self.once = once
        self.stop = False
        self.settings = Settings(server, config.runtime_dir(server), grunter_timeout, refresh,
                                 EndHooks(server, hook_timeout))
        self.projects = {}   # type: dict[str, ServedProject]
        self.started = time.time()
        self.recheck = recheck
        self.full_at = 0.0   # when the last round that looked at every project began
        self.again = set()   # type: set[str]  # projects the next round looks at again
        self.due = []        # type: list[tuple[float, str]]  # heap: (when, project)
        self.due_at = {}     # type: dict[str, float]  # each project's time in the heap

    # ------------------------------------------------------------ lifecycle
    def lock(self, restart: bool = False) -> None:
        config.private(self.root)
        path = config.grund_file(self.server, "grund.lock")
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
        self.child = os.fork()
        if self.child != 0:
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
        path = config.grund_file(self.server, P.FIFO)
        try:
            os.mkfifo(path, 0o600)
        except FileExistsError:
            if not stat.S_ISFIFO(os.stat(path).st_mode):
                os.unlink(path)
                os.mkfifo(path, 0o600)
        config.private(config.grund_file(self.server, P.MARKS))
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
        self.childf = open(config.grund_file(self.server, "grund.children"), "a+")
        if not flock_within(self.childf, GIT_ORPHAN_WAIT):
            log.warning("git processes of an earlier grund still run after %d s; going on",
                        GIT_ORPHAN_WAIT)
        G.INHERIT_FDS = (self.childf.fileno(),)

    def run(self) -> int:
        runtime.install(self.settings.runtime)
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
        full = True
        while not self.stop:
            self.round(full)
            self.settings.hooks.reap()
            if self.once or self.stop:
                break
            ready, _, _ = select.select([self.fifo_r], [], [], self.interval)
            unmarked = False
            if ready:
                try:
                    while True:
                        got = os.read(self.fifo_r, 4096)
                        if not got:
                            break
                        unmarked = unmarked or b"x" in got
                except BlockingIOError:
                    pass
            full = self.full_due(unmarked)
        if not self.once:   # a clean stop: said in every project's heartbeat
            for served in self.projects.values():
                try:
                    served.beat(stopped=True)
                except (GruntError, OSError) as e:
                    log.warning("%s: cannot mark the heartbeat stopped: %s", served.proj, e)
        self.settings.hooks.reap(wait=True)   # bounded by --hook-timeout
        log.info("grund %d stopping", os.getpid())
        return 0

    def full_due(self, unmarked: bool) -> bool:
        """Look at every project next round?  When the last such round is --recheck
        seconds old, or a poke came without a mark (an older hook or job script)."""
        return unmarked or time.time() - self.full_at >= self.recheck

    def round(self, full: bool = True) -> None:
        """Serve every project (``full``), or those marked, to look at again, or due."""
        marked = repos.take_marks(self.server)
        now = time.time()
        if full:
            self.full_at = now
            names = repos.projects(self.server, self.projects)
        else:
            names = set(marked) | self.again
            while self.due and self.due[0][0] <= now:
                when, proj = heapq.heappop(self.due)
                if self.due_at.get(proj) == when:
                    names.add(proj)
                    del self.due_at[proj]
            names = sorted(names)
        self.again = set(marked)   # if stopped before serving them: a later round does
        for proj in names:
            if self.stop:
                return
            self.again.discard(proj)
            served = self.projects.get(proj)
            if served is None:
                if not self.once:   # a --once grund is woken by no one: its hooks can wait
                    self.update_hook(proj)
                served = self.projects[proj] = ServedProject(self.settings, proj)
            served.serve(self.started, lambda: self.stop)
            if served.quiet is None:   # something to look at again next round
                self.again.add(proj)
            when = next_due(served)
            if self.due_at.get(proj) != when:
                self.due_at[proj] = when
                heapq.heappush(self.due, (when, proj))

    def update_hook(self, proj: str) -> None:
        """Bring the hook of a project this grund serves for the first time up to date
        (one that leaves no mark would leave its pushes to the --recheck rounds)."""
        try:
            repos.install_hook(self.server, proj)
        except OSError as e:
            log.warning("%s: cannot update the post-receive hook: %s", proj, e)


def next_due(served: ServedProject) -> float:
    """When a quiet project must be served again without a mark: its heartbeat, and
    the status check of its unfinished jobs (--refresh)."""
    when = served.beat_at + H.EVERY
    if served.load_seen().get("watch"):
        try:
            last = os.stat(served.state_file(P.REFRESHED)).st_mtime
        except OSError:
            last = time.time()
        when = min(when, last + served.settings.refresh_every)
    return when


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



def log_to(path: "str | None", stream, quiet: bool) -> "list[logging.Handler]":
    """grund's log handlers: the rotating file ``path`` (INFO), and ``stream`` unless None."""
    fmt = logging.Formatter("%(asctime)s grund: %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers = []  # type: list[logging.Handler]
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


def _fail(msg: str, handlers: "list[logging.Handler]") -> None:
    """An error that ends grund: into its log once it has one, else on stderr."""
    if handlers:
        log.error("error: %s", msg)
    else:
        print(f"grund: error: {msg}", file=sys.stderr)


def _project_command(action: str, names: "list[str]") -> int:
    """``grund newproj <proj>`` and ``grund share <proj> <group>``: what ``grunt newproj``
    and ``grunt share`` do on the server, for a cluster whose python3 runs grund
    but not grunt (Python 3.6)."""
    want = 1 if action == "newproj" else 2
    if len(names) != want:
        print(f"grund: error: usage: grund {action} <proj>{' <unix-group>' if want == 2 else ''}",
              file=sys.stderr)
        return 2
    try:
        if action == "newproj":
            server = config.default_server(ask=True)
            existed = repos.create_project(server, names[0])
            print(f"project {names[0]} {'already exists' if existed else 'created'} on {server} "
                  f"({os.path.dirname(config.bare_path(server, names[0], 'jobs'))})")
        else:
            server = config.default_server()
            share.share_project(server, names[0], names[1])
            print(f"project {names[0]} on {server} is now readable (not writable) by group {names[1]}")
    except GruntError as e:
        print(f"grund: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


def _control(action: str) -> int:
    """``grund status``: is one running (exit 0) or not (exit 1); ``grund stop``: stop
    it (SIGTERM, then wait for its lock), exit 0 once none runs."""
    try:
        server = config.default_server()
        path = config.grund_file(server, "grund.lock")
        f = open(path, "r") if os.path.exists(path) else None
    except (GruntError, OSError) as e:
        print(f"grund: error: {e}", file=sys.stderr)
        return 1
    if f is None or flock_within(f, 0):
        if f is not None:
            f.close()
        print(f"grund is not running for server {server} (start it with: grund --cron)")
        return 1 if action == "status" else 0
    with f:
        f.seek(0)
        pid = f.read().strip()
        if action == "status":
            print(f"grund is running for server {server} (pid {pid or '?'})")
            return 0
        try:
            os.kill(int(pid), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass
        if not flock_within(f, 60):
            print(f"grund: error: grund pid {pid} did not stop within 60 s", file=sys.stderr)
            return 1
    print(f"stopped grund for server {server} (pid {pid})")
    return 0


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(prog="grund", description="grunt's daemon on the server")
    ap.add_argument("action", nargs="?",
                    choices=["run", "restart", "stop", "status", "newproj", "share"],
                    default="run", help="restart: stop a running grund first; stop: stop it; "
                    "status: is it running (exit 1 if not); newproj <proj>: create a project; "
                    "share <proj> <unix-group>: let the group read it")
    ap.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--once", action="store_true", help="process everything pending and exit")
    ap.add_argument("--cron", action="store_true",
                    help="start grund in the background unless it runs already (silent); "
                         "for crontab: */5 * * * * ~/bin/grund --cron")
    ap.add_argument("--interval", type=float, default=float(os.environ.get("GRUND_INTERVAL", 5)),
                    help="seconds between checks when nothing wakes grund (default 5)")
    ap.add_argument("--recheck", type=float, default=RECHECK, metavar="SECONDS",
                    help="seconds between looks at every project, for a change that woke no "
                         f"one (default {RECHECK:g}); other rounds look at the projects woken")
    ap.add_argument("--refresh", type=float, default=300.0,
                    help="seconds between status checks of unfinished jobs (default 300)")
    ap.add_argument("--grunter-timeout", type=float, default=GRUNTER_TIMEOUT, metavar="SECONDS",
                    help=f"stop a grunter.py call after this long (default {GRUNTER_TIMEOUT})")
    ap.add_argument("--hook-timeout", type=float, default=HOOK_TIMEOUT, metavar="SECONDS",
                    help=f"stop the end hook after this long (default {HOOK_TIMEOUT:g})")
    ap.add_argument("-q", "--quiet", action="store_true", help="log only warnings on stderr")
    ap.add_argument("--version", action="version", version=f"grund {__version__}")
    a = ap.parse_args(argv)
    if a.action in ("newproj", "share"):
        return _project_command(a.action, a.names)
    if a.action in ("stop", "status"):
        return _control(a.action)
    if a.names:
        ap.error(f"unrecognized arguments: {' '.join(a.names)}")
    handlers = []   # type: list[logging.Handler]
    try:
        server = config.default_server()
        d = Grund(server, a.interval, a.once and not a.cron, a.refresh, a.grunter_timeout,
                  a.hook_timeout, a.recheck)
        try:
            d.lock(restart=a.action == "restart")
        except AlreadyRunning:
            if a.cron:
                return 0  # the one grund is serving: cron stays silent
            raise
        if a.cron and not d.detach():
            # cron mails what a job prints: one line when grund had to be started
            print(f"started grund for server {server} (pid {d.child}), logging to "
                  f"{config.grund_file(server, 'grund.log')}")
            return 0
        handlers = log_to(config.grund_file(server, "grund.log"), None if a.cron else sys.stderr,
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
