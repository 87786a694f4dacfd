"""What every command family of the command line shares: printing, parsing, the
project to work on."""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Iterator

from .. import heartbeat as H, jobs as J
from ..client.project import Project
from ..client.shared import check_user, open_project
from ..errors import UsageError
from ..gruntlib import protocol as P


def say(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"grunt: warning: {msg}", file=sys.stderr, flush=True)


class Parser(argparse.ArgumentParser):
    """argparse for one command: its errors are one line and exit code 2."""

    def __init__(self, cmd: str):
        super().__init__(prog=f"grunt {cmd}", add_help=False, allow_abbrev=False)

    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UsageError(f"{message} (see: grunt help {self.prog.split()[-1]})")


def user(text: str) -> str:
    """``--user <owner>``: argparse type."""
    return check_user(text)


def project(a: argparse.Namespace, share: bool = True, reading: bool = False) -> Project:
    """The project to work on: the checkout's own, or ``--user``'s read-only copy.

    ``reading``: the command only reads, so when the copy cannot be refreshed
    it goes on with what was pulled before (and says so).
    """
    pr = open_project(getattr(a, "user", None), share=share)
    pr.reading = reading
    return pr


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    yield


def grund_down(pr: Project, hb: "dict | None" = None) -> "str | None":
    """Why grund on the server is not serving the project, from the heartbeat that
    came with the last fetch (None when it seems to run, or was never seen)."""
    hb = H.read(pr.jobs) if hb is None else hb
    if hb is None:
        return None
    if hb.get("stopped"):
        return (f"grund on {pr.server} was stopped at {hb.get('time', '?')}: start it there "
                "with grund --cron (or wait for the crontab line)")
    if H.age(hb) > H.STALE:
        return (f"grund on {pr.server} was last seen {H.describe_age(H.age(hb))} "
                f"({hb.get('time', '?')}): is it running? (grunt server-status)")
    return None


def waiting_for_grund(jobs: "list[J.Job]") -> "list[str]":
    """The submit times of the jobs no grund has taken up yet (Pending, no scheduler id)."""
    return [j.submit for j in jobs if j.status == J.PENDING and not j.sched_id]


def check_grund(pr: Project, waiting: "list[str]" = ()) -> None:
    """Warn when grund is not running: stopped, not seen for a while, or never seen
    while jobs wait for it (``waiting``: their submit times, waiting_for_grund)."""
    hb = H.read(pr.jobs)
    down = grund_down(pr, hb)
    if down:
        warn(down)
        return
    if hb is not None:
        return

    def waited(submit: str) -> float:
        ts = P.parse_ts(submit)
        return time.time() - ts.timestamp() if ts else 0.0
    n = sum(waited(s) > H.STALE for s in waiting)
    if n:
        warn(f"grund on {pr.server} has never been seen, and {n} job(s) wait "
             "for it: is it running? (grunt server-status)")
