"""Acting on jobs: status, update, cancel, message, delete, archive, nuke, undelete,
wait, queue.  Most send a ``grcmd.<cmd>`` file to grund (client/publish.py)."""
from __future__ import annotations

import csv
import io
import os
import sys
import time
from argparse import Namespace

from .. import git as G, heartbeat as H, jobs as J, pending
from ..client import links, onserver, publish
from ..client.commits import commits
from ..client.project import Project
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from ..term import Progress
from .common import Parser, check_grund, say, waiting_for_grund, warn
from .jobtable import print_jobs

WAIT_POLL = 5.0  # seconds between fetches while waiting (GRUNT_WAIT_POLL)
STATUS_WAIT = 10.0  # seconds status waits for grund's answer (GRUNT_STATUS_WAIT)
STATUS_POLL = 0.5   # seconds between its fetches


def ids_json_args(p: Parser) -> None:
    p.add_argument("--json", action="store_true")
    p.add_argument("jobs", nargs="*")


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        value = -1.0
    if value < 0:
        raise UsageError(f"{name} must be a number of seconds")
    return value


def status(a: Namespace) -> int:
    wait_for = _seconds("GRUNT_STATUS_WAIT", STATUS_WAIT)
    with Project.here() as pr:
        pr.sync()
        found = pr.select(a.jobs, default=pr.unfinished)
        if not found:
            say("[]" if a.json else "no unfinished jobs")
            return 0
        publish.send_commands(pr, "status", found)
        answered = wait_for > 0 and _answer(pr, "status", found, wait_for)
        found = [pr.find(j.id) or j for j in found]
        print_jobs(found, a.json)
        if a.json:
            pass
        elif answered:
            say(f"grund on {pr.server} refreshed {len(found)} job(s)")
        else:
            say(f"asked grund on {pr.server} to refresh {len(found)} job(s); see grunt jobs")
            if wait_for > 0:
                warn(f"grund on {pr.server} has not answered within {wait_for:g} s: the states "
                     "above are from before it did (grunt server-status tells whether it runs)")
    return 0


def _answer(pr: Project, cmd: str, jobs: "list[J.Job]", wait_for: float) -> bool:
    """Wait up to ``wait_for`` s until grund has processed ``cmd`` of ``jobs`` (its
    heartbeat's cursor is past them), fetching meanwhile; did it?"""
    sent = {j.where.file(P.CMD_PREFIX + cmd) for j in jobs}
    deadline = time.monotonic() + wait_for
    while True:
        hb = H.read(pr.jobs)
        if hb is None or H.age(hb) > H.STALE or hb.get("stopped"):
            return False   # grund is not running: nobody will answer
        try:
            left = sent & {path for _, path in pending.pending_commands(
                pr.jobs, hb.get("cursor"), pr.server, pr.proj)}
        except G.GitError:   # a cursor this copy does not know yet
            left = sent
        if not left:
            return True
        if time.monotonic() >= deadline:
            return False
        with pr.unlocked():
            time.sleep(STATUS_POLL)
        pr.sync()


def update_args(p: Parser) -> None:
    p.add_argument("words", nargs="*", metavar="jobid|file")


def _ids_then_files(words: "list[str]", prefix: str) -> "tuple[list[str], list[str]]":
    """``update 4 5 out/r.csv``: the leading words that are job ids, then the files."""
    for at, word in enumerate(words):
        try:
            J.parse_ids([word], prefix)
        except UsageError:
            return words[:at], words[at:]
    return list(words), []


def _missing(job: J.Job, files: "list[str]") -> "list[str]":
    """The named files that the job does not have (as its job.list says), if it has one."""
    text = P.read_text(os.path.join(job.path, P.LIST))
    if text is None:
        return []
    have = [row[0] for row in list(csv.reader(io.StringIO(text)))[1:] if row]
    return [f for f in files
            if not any(h == f.rstrip("/") or h.startswith(f.rstrip("/") + "/") for h in have)]


def update(a: Namespace) -> int:
    with Project.here() as pr:
        ids, files = _ids_then_files(a.words, pr.id_prefix())
        for f in files:
            if os.path.isabs(f) or ".." in f.split("/") or "\n" in f:
                raise UsageError(f"result file must be a path inside the job: {f}")
        pr.sync()
        found = pr.select(ids) if ids else J.scan(pr.jobs, ("active",))
        if not found:
            say("no active jobs")
            return 0
        for j in found:
            gone = _missing(j, files)
            if gone:
                warn(f"{j.id} has no {', '.join(gone)} (as its job.list says); grund copies "
                     "what is there when it runs the update")
        publish.send_commands(pr, "update", found, "".join(f + "\n" for f in files) or None)
        pr.sync(pr.results)   # which of them have results yet: those are linked
        for j in found:
            if links.has_results(pr, j):
                links.link(pr, j)
        say(f"asked grund on {pr.server} to copy results of {len(found)} job(s); "
            "grunt pull fetches them into gresults/")
    return 0


def whole_jobs(found: "list[J.Job]", cmd: str) -> "list[J.Job]":
    """``cmd`` acts on whole jobs: a run (``<jobid>_<task>``) is refused, not widened."""
    for j in found:
        if j.task is not None:
            raise UsageError(f"{cmd} acts on whole jobs, not on run {j.id}_{j.task}: "
                             f"grunt {cmd} {j.id} (all its runs)")
    return found


def ids_args(p: Parser) -> None:
    p.add_argument("jobs", nargs="*")


def cancel(a: Namespace) -> int:
    with Project.here() as pr:
        pr.sync()
        found = pr.select(a.jobs)
        runs = _cancel_runs(pr, [j for j in found if j.task is not None])
        found = [j for j in found if j.task is None]
        todo = [j for j in found if not j.finished]
        for j in found:
            if j not in todo:
                warn(f"{j.id} is {j.status}: nothing to cancel")
        publish.send_commands(pr, "cancel", todo)
        if todo:
            say(f"asked grund on {pr.server} to cancel {' '.join(j.id for j in todo)}")
    return 0 if todo or runs or not found else 1


def _cancel_runs(pr: Project, runs: "list[J.Job]") -> int:
    """``cancel <jobid>_<task>``: grcmd.cancel-runs names the runs, one command per job."""
    by_job: "dict[str, list[J.Job]]" = {}
    for r in runs:
        state = next(t.status for t in r.tasks if t.index == r.task)
        if state in J.FINISHED:
            warn(f"{r.id}_{r.task} is {state}: nothing to cancel")
        else:
            by_job.setdefault(r.id, []).append(r)
    for jid, rs in by_job.items():
        tasks = " ".join(str(r.task) for r in rs)
        publish.send_commands(pr, "cancel-runs", rs[:1], f"{P.now_ts()}\ntasks {tasks}\n")
        say(f"asked grund on {pr.server} to cancel {' '.join(f'{jid}_{r.task}' for r in rs)}")
    return len(by_job)


def message_args(p: Parser) -> None:
    p.add_argument("job")
    p.add_argument("text", nargs="?")


def message(a: Namespace) -> int:
    if a.text is not None and not a.text.strip():
        raise UsageError("the message is empty")
    with Project.here() as pr:
        pr.sync()
        job = whole_jobs([pr.one(a.job, "message")], "message")[0]
        if a.text is None:   # message N: the current one
            say(job.message)
            return 0
        jid = job.id

        def build():
            job = pr.find(jid)
            if job is None:
                raise GruntError(f"{jid} is gone from the server")
            P.write_atomic(os.path.join(job.path, P.MESSAGE), a.text.rstrip("\n") + "\n")
            return [job.where.file(P.MESSAGE)], f"message {jid}"
        publish.publish(pr, build)
        say(f"{jid}: {a.text}")
    return 0


def _move(cmd: str, a: Namespace) -> int:
    with Project.here() as pr:
        pr.sync()
        found = whole_jobs(pr.select(a.jobs), cmd)
        if cmd == "archive":
            busy = [j for j in found if not j.finished]
            if busy:
                raise GruntError(f"{busy[0].id} is {busy[0].status}: archive takes finished jobs "
                                 f"(cancel it first: grunt cancel {busy[0].id})")
        publish.send_commands(pr, cmd, found)
        if cmd in ("delete", "nuke"):   # their results move or go: a link would dangle
            for j in found:
                links.unlink(pr, j.id)
        say(f"asked grund on {pr.server} to {cmd} {' '.join(j.id for j in found)}")
    return 0


def delete(a: Namespace) -> int:
    return _move("delete", a)


def archive(a: Namespace) -> int:
    return _move("archive", a)


def nuke(a: Namespace) -> int:
    return _move("nuke", a)


def undelete(a: Namespace) -> int:
    if not a.jobs:
        raise UsageError("which job? give job ids (see: grunt help undelete)")
    with Project.here() as pr:
        pr.sync()
        todo = []   # type: list[J.Job]
        for word in a.jobs:
            ids = J.parse_ids([word], pr.id_prefix())
            for jid in ids:
                job = pr.find(jid)
                if job is None:
                    if commits(pr.jobs, jid):
                        raise GruntError(f"{jid} was nuked: it is gone for good and cannot be undeleted")
                    if len(ids) == 1:
                        raise GruntError(f"no such job in {pr.proj} on {pr.server}: {jid} was never used")
                elif job.folder != "delete":
                    raise GruntError(f"{jid} is not deleted (it is in {job.folder}/)")
                elif job not in todo:
                    todo.append(job)
        if not todo:
            raise GruntError(f"no deleted jobs among {' '.join(a.jobs)}")
        publish.send_commands(pr, "undelete", todo)
        say(f"asked grund on {pr.server} to undelete {' '.join(j.id for j in todo)}")
    return 0


def wait(a: Namespace) -> int:
    try:
        poll = float(os.environ.get("GRUNT_WAIT_POLL", WAIT_POLL))
    except ValueError:
        raise UsageError("GRUNT_WAIT_POLL must be a number of seconds") from None
    with Project.here() as pr, Progress("wait") as prog:
        pr.sync()
        ids = [j.id for j in pr.select(a.jobs, default=pr.unfinished)]
        if not ids:
            say("no unfinished jobs")
            return 0
        check_grund(pr, waiting_for_grund([j for j in (pr.find(i) for i in ids) if j is not None]))
        while True:
            found = {i: pr.find(i) for i in ids}
            present = [j for j in found.values() if j is not None]
            busy = [j for j in present if not j.finished]
            if not busy:
                break
            prog.update(f"{len(busy)} of {len(ids)} job(s) not finished: "
                        + ", ".join(f"{j.id} {j.status}" for j in busy[:3])
                        + (" ..." if len(busy) > 3 else ""))
            with pr.unlocked():
                time.sleep(poll)
            pr.sync()
    gone = [i for i, j in found.items() if j is None]
    if present:
        print_jobs(present)
    if gone:
        warn(f"gone from the server meanwhile: {', '.join(gone)}")
    bad = [j for j in present if j.status != J.DONE]
    return 1 if bad or gone else 0


def queue(a: Namespace) -> int:
    with Project.here() as pr:
        pr.sync()
        sys.stdout.write(onserver.queue(pr))
    return 0
