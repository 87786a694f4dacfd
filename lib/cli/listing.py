"""Looking at jobs: jobs, show, log, server-status."""
from __future__ import annotations

import json
import os
import re
import time
from argparse import Namespace

from .. import git as G, heartbeat as H, jobs as J, pending, term
from ..client import jobcache, provenance
from ..client.commits import commits
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from ..term import table
from .common import Parser, check_grund, grund_down, project, say, user, waiting_for_grund, warn
from .jobtable import jobs_text, print_runs

WHICH = ("active", "done", "archive", "delete", "all")


def jobs_args(p: Parser) -> None:
    p.add_argument("which", nargs="?", default="active")   # or a job: its runs
    p.add_argument("--json", action="store_true")
    p.add_argument("--tree", action="store_true")
    p.add_argument("-n", type=_count, metavar="N", help="the newest N jobs")
    p.add_argument("--user", type=user)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(text)
    return int(text)


def jobs(a: Namespace) -> int:
    if a.which not in WHICH and not re.fullmatch(r"([a-z]{3})?\d{1,6}(_\d+)?", a.which):
        raise UsageError(f"argument which: invalid choice: {a.which!r} (choose from "
                         f"{', '.join(WHICH)}, or a job id) (see: grunt help jobs)")
    with project(a, share=False, reading=True) as pr:
        pr.sync()
        if a.which not in WHICH:
            print_runs(pr.select([a.which]), a.json)
            return 0
        folders = P.FOLDERS if a.which == "all" else ("active",) if a.which == "done" else (a.which,)

        def found() -> "list[J.Job]":
            got = jobcache.scan(pr.jobs, folders)
            if a.which == "done":
                got = [j for j in got if j.finished]
            if a.n:   # the newest N, by submit time, in the usual order
                newest = {j.id for j in sorted(got, key=lambda j: (j.submit, j.number))[-a.n:]}
                got = [j for j in got if j.id in newest]
            return got
        # the same commit and options as the last listing: the same output
        key = jobcache.listing_key(pr.jobs, [a.which, a.json, a.tree, a.n, term.width(),
                                             term.use_colour()])
        cached = jobcache.cached_listing(pr.jobs, key) if key and not pr.stale else None
        if cached is None:
            listed = found()
            text = jobs_text(listed, a.json, tree=a.tree, folders=a.which == "all")
            waiting = waiting_for_grund(listed)
            # (a running job's TIME grows with the clock: such a listing is not kept)
            if key and not pr.stale and not any(j.status == J.RUNNING for j in listed):
                jobcache.keep_listing(pr.jobs, key, text, waiting)
        else:
            text, waiting = cached
        say(text)
        if a.user is None and not pr.stale:
            check_grund(pr, waiting)
    return 0


def one_job_args(p: Parser) -> None:
    p.add_argument("job")
    p.add_argument("--user", type=user)


def show(a: Namespace) -> int:
    with project(a, share=False, reading=True) as pr:
        pr.sync()
        j = pr.one(a.job, "show")
        state = j.status + (f" (exit {j.exit_code})" if j.exit_code is not None else "")
        if j.detail and not j.finished:
            state += f", scheduler: {j.detail}"
        elif j.status == J.CANCELED and " " in j.detail:
            state += f": {j.detail.split(' ', 1)[1]}"   # the reason grund canceled it
        msg = j.message.splitlines() or [""]
        rows = [("job", f"{j.id} ({j.folder})"), ("message", msg[0]),
                *(("", ln) for ln in msg[1:]),
                ("args", " ".join(j.args) if j.args else "(none)"), ("state", state),
                ("server", j.server), ("scheduler id", j.sched_id or "-"),
                ("submit", j.submit or "-"), ("start", j.start or "-"), ("end", j.end or "-")]
        if j.parent:
            rows.append(("resubmit of", j.parent))
        if j.is_sweep:
            rows.append(("runs", f"{j.counts()} (grunt jobs {j.id})"))
        if j.task is not None:
            t = next(t for t in j.tasks if t.index == j.task)
            rows.append(("run", f"{j.id}_{j.task} {j.label(j.task)}: {t.status}"
                         + (f" (exit {t.exit_code})" if t.exit_code is not None else "")))
        if j.after:
            rows.append(("after", j.after))
        rows += _attempt_rows(j)
        if j.unconfirmed and j.status == J.PENDING:
            rows += [("submit", ln) if i == 0 else ("", ln)
                     for i, ln in enumerate(j.unconfirmed.rstrip("\n").splitlines())]
        rows += _failure(j)
        rows += provenance.describe(j.path)
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            say(f"{k:<{width}}  {v}".rstrip())
    return 0


def _attempt_rows(j: J.Job) -> "list[tuple[str, str]]":
    """One row per attempt of a job with a retry policy: its end, resources, what grund did."""
    if j.tasks:
        return _task_attempt_rows(j)
    rows = []
    for rec in j.attempts:
        n = rec.get("attempt")
        res = ", ".join(f"{k} {v}" for k, v in sorted((rec.get("resources") or {}).items()) if v)
        code = f" (exit {rec['exitcode']})" if rec.get("exitcode") is not None else ""
        then = "retried" if rec.get("next") else "not retried"
        where = "the latest" if n == j.attempt else f"output: grunt out {j.id} --attempt {n}"
        rows.append((f"attempt {n}", f"{rec.get('state', '?')}{code} at {rec.get('end') or '?'}"
                     f"{'; ' + res if res else ''}; {then} ({rec.get('why', '')}); {where}"))
    if j.attempt > 1 and len(j.attempts) < j.attempt:
        rows.append((f"attempt {j.attempt}", f"{j.status}, of {j.attempts_max} at most; the latest"))
    return rows


def _task_attempt_rows(j: J.Job) -> "list[tuple[str, str]]":
    """The attempts of the tasks grund retried (of the one run named, or all)."""
    rows = []
    for rec in j.attempts:
        t, n = rec.get("task"), rec.get("attempt")
        if t is None or j.task is not None and t != j.task:
            continue   # a round's record, or another run's
        res = ", ".join(f"{k} {v}" for k, v in sorted((rec.get("resources") or {}).items()) if v)
        code = f" (exit {rec['exitcode']})" if rec.get("exitcode") is not None else ""
        then = "retried" if rec.get("next") else "not retried"
        latest = not rec.get("next")
        where = "the latest" if latest else f"output: grunt out {j.id}_{t} --attempt {n}"
        rows.append((f"{j.id}_{t} attempt {n}", f"{rec.get('state', '?')}{code} at "
                     f"{rec.get('end') or '?'}{'; ' + res if res else ''}; {then} "
                     f"({rec.get('why', '')}); {where}"))
    return rows


SHOW_TAIL = 5   # lines of a failed job's output that show gives


def _failure(j: J.Job) -> "list[tuple[str, str]]":
    """For a job that did not end well: its error line and the last lines of its output."""
    if not j.finished or j.status == J.DONE:
        return []
    found = []
    err = (P.read_text(os.path.join(j.path, P.ERROR)) or "").strip()
    if err:
        found.append(("error", err.splitlines()[0]))
    lines = []   # type: list[str]
    for name in P.output_files(os.listdir(j.path)) if os.path.isdir(j.path) else []:
        if P.ATTEMPT_FILE_RE.match(name):
            continue   # an earlier attempt's
        lines += (P.read_text(os.path.join(j.path, name)) or "").splitlines()
    tail = [ln for ln in lines if ln.strip()][-SHOW_TAIL:]
    found += [("output" if i == 0 else "", ln) for i, ln in enumerate(tail)]
    return found


def log(a: Namespace) -> int:
    with project(a, reading=True) as pr:
        pr.sync()
        pr.sync(pr.results)
        ids = J.parse_ids([a.job], pr.id_prefix())
        if len(ids) != 1:
            raise UsageError("log takes one job id, not a range")
        jid = ids[0]
        found = [(c, "jobs") for c in commits(pr.jobs, jid)]
        found += [(c, "results") for c in commits(pr.results, jid)]
        if not found:
            raise GruntError(f"no such job in {pr.proj} on {pr.server}: {jid} was never used")
        found.sort(key=lambda x: x[0][0])
        rows = [[date, short, repo, author, subject]
                for (_, date, short, author, subject), repo in found]
        say(table(["TIME", "COMMIT", "REPO", "BY", "WHAT"], rows))
    return 0


def json_args(p: Parser) -> None:
    p.add_argument("--json", action="store_true")


def server_status(a: Namespace) -> int:
    with project(a, share=False, reading=True) as pr:
        pr.sync()
        hb = H.read(pr.jobs) or {}
        try:
            pending_cmds, oldest = [], None
            for commit, path in pending.pending_commands(pr.jobs, hb.get("cursor"), pr.server, pr.proj):
                where, cmd = P.parse_command(path)
                pending_cmds.append(f"{cmd} {where.jobid}")
                if oldest is None:
                    oldest = int(G.out("log", "-1", "--format=%ct", commit, cwd=pr.jobs) or 0)
        except G.GitError:  # a cursor this copy does not know
            pending_cmds = None
        unfinished = len(pr.unfinished())
        problem = pr.problem()
        down = grund_down(pr)
    age = H.age(hb) if hb else None
    stuck = (hb and not down and oldest is not None and pending_cmds
             and time.time() - oldest > H.STALE)
    state = ("unreachable" if pr.stale   # what was pulled before: grund's state now is unknown
             else "not seen" if not hb or (age > H.STALE and not hb.get("stopped"))
             else "stopped" if hb.get("stopped") else "stuck" if stuck else "running")
    info = {"server": pr.server, "project": pr.proj, "state": state, "seen": hb.get("time"),
            "age": None if age is None else int(age), "version": hb.get("version"),
            "pid": hb.get("pid"), "host": hb.get("host"), "pending": pending_cmds,
            "unfinished": unfinished, "problem": problem or None}
    if a.json:
        print(json.dumps(info, indent=1))
    else:
        _say_status(info, hb, age)
    if a.json:
        pass
    elif state == "not seen":
        warn(f"grund on {pr.server} is not running, or not for this project: start it there "
             f"with grund --cron (see the crontab line in the README)")
    elif state == "stopped":
        warn(down)
    elif state == "stuck":
        warn(f"grund on {pr.server} runs but has not processed a command pushed "
             f"{H.describe_age(time.time() - oldest)}: see ~/grunt/srv/{pr.server}/grund.log there")
    return 0 if state == "running" and not problem else 1


def _say_status(info: dict, hb: dict, age: "float | None") -> None:
    say(f"server      {info['server']} (project {info['project']})")
    if hb:
        say(f"grund       {hb.get('version', '?')}, pid {hb.get('pid', '?')} on {hb.get('host', '?')}"
            + (" (stopped)" if hb.get("stopped") else ""))
        say(f"last seen   {hb.get('time', '?')} ({H.describe_age(age)})")
    else:
        say("grund       never seen (no heartbeat yet)")
    pend = info["pending"]
    if pend is None:
        say("pending     unknown (grund's position is not in this copy)")
    else:
        say(f"pending     {len(pend)} command(s) not yet processed"
            + (f": {', '.join(pend[:5])}{' ...' if len(pend) > 5 else ''}" if pend else ""))
    say(f"unfinished  {info['unfinished']} job(s)")
    if info["problem"]:
        say(f"problem     {info['problem']}")
