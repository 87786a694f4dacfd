"""grund: the user-space daemon on the server.

One instance per user and server name, held by an ``fcntl.flock`` on
``grund.lock`` for the life of the process (a crash or kill -9 releases it).
The loop ``select()``s on a FIFO that the bare repos' post-receive hook and
the job scripts poke, with a timeout as the safety net; each round serves
every project (project.py), which costs a few ``stat`` calls when nothing
changed.  Signal handlers only set a flag and poke the FIFO.
"""
import argparse
import errno
import fcntl
import logging
import logging.handlers
import os
import select
import signal
import stat
import sys
import time

from .. import __version__, config, git as G, runtime
from ..errors import GruntError
from ..gruntlib import protocol as P
from . import repos, share
from .grunter import GRUNTER_TIMEOUT
from .hooks import HOOK_TIMEOUT, EndHooks
from .project import ServedProject, Settings

log = logging.getLogger("grund")
GIT_ORPHAN_WAIT = 120  # seconds a new grund waits for the gits of a killed one
LOG_BYTES, LOG_KEEP = 1_000_000, 3  # grund.log rotates at 1 MB, keeping grund.log.1 .. .3


class AlreadyRunning(GruntError):
    """Another grund holds the lock."""


class Grund:
    def __init__(self, server: str, interval: float = 5.0, once: bool = False,
                 refresh: float = 300.0, grunter_timeout: float = GRUNTER_TIMEOUT,
                 hook_timeout: float = HOOK_TIMEOUT):
        self.server = server
        self.root = config.server_root(server)
        self.interval = interval
        self.once = once
        self.stop = False
        self.settings = Settings(server, config.runtime_dir(server), grunter_timeout, refresh,
                                 EndHooks(server, hook_timeout))
        self.projects = {}   # type: dict[str, ServedProject]
        self.started = time.time()

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
        while not self.stop:
            self.round()
            self.settings.hooks.reap()
            if self.once or self.stop:
                break
            ready, _, _ = select.select([self.fifo_r], [], [], self.interval)
            if ready:
                try:
                    while os.read(self.fifo_r, 4096):
                        pass
                except BlockingIOError:
                    pass
        if not self.once:   # a clean stop: said in every project's heartbeat
            for served in self.projects.values():
                try:
                    served.beat(stopped=True)
                except (GruntError, OSError) as e:
                    log.warning("%s: cannot mark the heartbeat stopped: %s", served.proj, e)
        self.settings.hooks.reap(wait=True)   # bounded by --hook-timeout
        log.info("grund %d stopping", os.getpid())
        return 0

    def round(self) -> None:
        """Serve every project once."""
        for proj in repos.projects(self.server, self.projects):
            if self.stop:
                return
            if proj not in self.projects:
                self.projects[proj] = ServedProject(self.settings, proj)
            self.projects[proj].serve(self.started, lambda: self.stop)


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
                 a.hook_timeout)
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
