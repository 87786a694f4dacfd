"""grunt: the client.  One function per command; ``main(argv) -> int``."""
from __future__ import annotations

import argparse
import contextlib
import csv
import getpass
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import traceback
from typing import Callable

from . import __version__, client as C, config, git as G, heartbeat as H, jobcache, jobs as J, \
    protocol as P, provenance, runtime, server as S, share, snapshot, term
from .errors import GruntError, UsageError
from .follow import FOLLOW_PY
from .remote import Remote
from .term import Progress, table

HELP: dict[str, tuple[str, str]] = {
    "newproj": ("newproj <proj> [<remote>] [--user <owner>]",
                "On the server (one argument): create the project's repositories under ~/grunt.\n"
                "On the client: set the project up against <remote>, which is [user@]host\n"
                "(an ssh-config alias works) or an absolute path standing for the server's home.\n"
                "--user <owner>: read <owner>'s shared project <proj> instead (read-only copy)."),
    "newproj-server": ("newproj-server <proj>",
                       "From an existing project: ask grund on the server to create project <proj>."),
    "submit": ("submit [args...] -m 'message'",
               "Snapshot the project's git-tracked files (plus grunter.py) into a new job,\n"
               "push it and print the job id.  -m 'message' must come last."),
    "jobs": ("jobs [active|done|archive|delete|all] [--json] [--tree] [--user <owner>]",
             "List jobs: id, server, scheduler id, status, submit, start, end, args, message.\n"
             "Default: active.  done: finished active jobs.  --json: machine-readable.\n"
             "--tree: resubmitted jobs below the job they came from.\n"
             "--user <owner>: the jobs of another user who shared the project with you.\n"
             "Warns when grund on the server has not been seen for 10 minutes."),
    "status": ("status [--json] [jobid..]",
               "Ask grund to refresh the scheduler state of the jobs (default: unfinished active jobs)."),
    "update": ("update [jobid] [files..]",
               "Ask grund to copy results into the results repository (default: every active job)\n"
               "and link gresults/<jobid> to them.  Alias: results."),
    "pull": ("pull [--user <owner>]",
             "Fetch the jobs and results repositories from the server.\n"
             "--user <owner>: another user's shared project, into a read-only copy,\n"
             "linked as gresults/<owner>/<jobid>."),
    "out": ("out [-f] <jobid..> [--user <owner>]",
            "Print the jobs' output (job.out, and job.error when submission failed).\n"
            "-f: follow one job's output on the server until the job ends."),
    "wait": ("wait [jobid..]",
             "Wait until the jobs (default: the unfinished active ones) have finished;\n"
             "exit 1 when any of them did not end Done."),
    "ls": ("ls [--json] <jobid..>", "List the files of the jobs on the server (from job.list)."),
    "diff": ("diff <jobid1> [jobid2] | diff <jobid> --source",
             "Diff a job against the current project, or two jobs (job.* and grcmd.* left out).\n"
             "--source: the job against the commit it was submitted from (see job.source)."),
    "link": ("link <jobid..>", "Make gresults/<jobid> point at the job's results."),
    "unlink": ("unlink <jobid..>", "Remove gresults/<jobid> links."),
    "cancel": ("cancel <jobid..>", "Cancel the jobs (passed to grunter.py cancel)."),
    "message": ("message <jobid> 'new text'", "Replace a job's message."),
    "delete": ("delete <jobid..>", "Move the jobs to delete/ (a running job is canceled first)."),
    "archive": ("archive <jobid..>", "Move finished jobs to archive/."),
    "nuke": ("nuke <jobid..>", "Remove the jobs and their results for good."),
    "undelete": ("undelete <jobid..>", "Bring deleted jobs back to active/, with their results."),
    "show": ("show <jobid> [--user <owner>]",
             "Everything recorded about a job: message, args, state, times, scheduler id,\n"
             "the source commit, branch and remote, the uncommitted changes, what was not shipped."),
    "log": ("log <jobid> [--user <owner>]",
            "The commits that submitted, updated, moved or nuked a job, with their times."),
    "resubmit": ("resubmit <jobid> [args...] -m 'message'",
                 "A new job from the stored snapshot of <jobid> (not from the current directory),\n"
                 "with its args unless new ones are given; job.parent names <jobid>."),
    "share": ("share <proj> <unix-group>",
              "On the server: let <unix-group> read the project's repositories (never write).\n"
              "Colleagues then run e.g. grunt jobs --user <you> and grunt pull --user <you>."),
    "server": ("server [<name>]", "Show the project's server, or set it (file grunt.server)."),
    "queue": ("queue", "Show the scheduler queue and partitions on the server (grunter.py queue)."),
    "server-status": ("server-status [--json]",
                      "When grund on the server was last seen, its version and its pending work;\n"
                      "exit 1 when it has not been seen for 10 minutes."),
    "init": ("init [--force]",
             "Write grunter.py into the current project from grunter_example.py."),
    "help": ("help [<command>]", "Show help."),
}
ALIASES = {"results": "update"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UsageError(f"{message} (see: grunt help {self.prog.split()[-1]})")


def _parser(cmd: str) -> _Parser:
    return _Parser(prog=f"grunt {cmd}", add_help=False)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _warn(msg: str) -> None:
    print(f"grunt: warning: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- newproj
def cmd_newproj(argv: list[str]) -> int:
    p = _parser("newproj")
    p.add_argument("proj")
    p.add_argument("remote", nargs="?")
    p.add_argument("--user")
    a = p.parse_args(argv)
    config.check_name("project", a.proj)
    if a.user is not None:
        return _shared_newproj(a.proj, a.remote, a.user)
    if a.remote is None:
        server = config.default_server(ask=True)
        existed = S.create_project(server, a.proj)
        _say(f"project {a.proj} {'already exists' if existed else 'created'} on {server} "
             f"({os.path.join(config.grunt_dir(), 'bb', server, a.proj)})")
        return 0
    server = config.default_server()
    return _client_newproj(a.proj, a.remote, server)


def _client_newproj(proj: str, spec: str, server: str) -> int:
    if spec.startswith("/"):
        spec = os.path.normpath(spec)
    base = config.client_proj_dir(server, proj)
    with Remote(spec, server) as r:  # checks the spec
        config.private(base)
        try:
            _clone_both(r, proj, server, base)
        except GruntError:
            if not os.listdir(base):  # leave no trace of a set-up that failed
                os.rmdir(base)
            raise
    P.write_atomic(os.path.join(base, "remote"), spec + "\n")
    _say(f"project {proj} set up against {server} ({spec})")
    return 0


def _clone_both(r: Remote, proj: str, server: str, base: str) -> None:
    """The client's jobs and results working copies, made or brought up to date."""
    for kind in ("jobs", "results"):
        url = r.url(config.bare_relpath(server, proj, kind))
        wc = os.path.join(base, kind)
        if os.path.isdir(os.path.join(wc, ".git")):
            G.git("remote", "set-url", "origin", url, cwd=wc)
            if kind == "jobs":
                snapshot.ensure_sparse(wc)
            r.git("fetch", "-q", "origin", cwd=wc, proj=proj)
            G.git("reset", "-q", "--hard", f"origin/{C.BRANCH}", cwd=wc)
        else:
            tmp = wc + ".new"
            shutil.rmtree(tmp, ignore_errors=True)  # left by an interrupted set-up
            G.init(tmp, C.BRANCH)
            config.private(tmp)
            G.git("remote", "add", "origin", url, cwd=tmp)
            if kind == "jobs":
                snapshot.ensure_sparse(tmp)
            try:
                r.git("fetch", "-q", "origin", cwd=tmp, proj=proj)
            except GruntError:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            G.git("reset", "-q", "--hard", f"origin/{C.BRANCH}", cwd=tmp)
            G.git("branch", "-q", "--set-upstream-to", f"origin/{C.BRANCH}", cwd=tmp)
            os.replace(tmp, wc)


def _shared_newproj(proj: str, spec: str | None, owner: str) -> int:
    """A read-only copy of ``owner``'s project ``proj``, reached through ``spec``."""
    if spec is None:
        raise UsageError("newproj --user needs the server's address: grunt newproj <proj> <remote> --user <owner>")
    if spec.startswith("/"):
        spec = os.path.normpath(spec)
    Remote(spec, "?")  # checks the spec before anything is written
    projdir = C.find_projdir(os.getcwd())
    if config.project_name(projdir) != proj:
        raise UsageError(f"this checkout is project {config.project_name(projdir)}, not {proj}")
    server = config.project_server(projdir)
    base = share.SharedProject.base_dir(server, share.check_user(owner), proj)
    new = not os.path.isdir(base)
    try:
        with share.open_project(owner, spec=spec) as pr:
            pr.sync(pr.jobs)
            pr.sync(pr.results)
    except GruntError:
        if new:  # leave no trace of a set-up that failed
            shutil.rmtree(base, ignore_errors=True)
        raise
    _say(f"project {proj} of {owner} on {server} set up read-only ({spec})")
    return 0


def cmd_newproj_server(argv: list[str]) -> int:
    p = _parser("newproj-server")
    p.add_argument("proj")
    a = p.parse_args(argv)
    config.check_name("project", a.proj)
    with C.Project.here() as pr:
        pr.sync()
        ctl = os.path.join("active", P.format_jobid(config.prefix(), 0), pr.proj)

        def build():
            os.makedirs(os.path.join(pr.jobs, ctl), exist_ok=True)
            P.write_atomic(os.path.join(pr.jobs, ctl, "grcmd.newproj-server"), a.proj + "\n")
            return [ctl], f"newproj-server {a.proj}"
        pr.publish(build)
        _say(f"asked grund on {pr.server} to create project {a.proj}; once it has, run:\n"
             f"  grunt newproj {a.proj} {pr.remote.spec}")
    return 0


# ---------------------------------------------------------------- submit
def split_submit(argv: list[str], usage: str = "submit [args...]") -> tuple[list[str], str]:
    """``[args...] -m msg`` -> (args, msg); -m must come last."""
    rest = list(argv)
    msg = None
    if len(rest) >= 2 and rest[-2] in ("-m", "--message"):
        msg, rest = rest[-1], rest[:-2]
    elif rest and rest[-1].startswith("-m") and len(rest[-1]) > 2:
        msg, rest = rest[-1][2:], rest[:-1]
    if any(x in ("-m", "--message") for x in rest):
        raise UsageError(f"-m 'message' must come last: grunt {usage} -m 'why'")
    if msg is None:
        raise UsageError(f"a message is required: grunt {usage} -m 'why'")
    if not msg.strip():
        raise UsageError(f"the message is empty: grunt {usage} -m 'why'")
    return rest, msg


def snapshot_list(top: str) -> tuple[list[str], list[str]]:
    """(paths to ship, untracked paths not shipped) of a project checkout."""
    tracked = []
    for entry in G.zsplit(G.git("ls-files", "-z", "-s", cwd=top)):
        meta, path = entry.split("\t", 1)
        if meta.startswith("160000"):  # a submodule: not shipped
            continue
        if path not in tracked[-1:]:
            tracked.append(path)
    ship = [p for p in tracked if os.path.lexists(os.path.join(top, p))]
    if "grunter.py" not in ship and os.path.isfile(os.path.join(top, "grunter.py")):
        ship.append("grunter.py")
    untracked = [p for p in G.zsplit(G.git("ls-files", "-z", "--others", "--exclude-standard", cwd=top))
                 if p != "grunter.py" and not p.startswith("grunt.") and not p.startswith("gresults/")]
    return ship, untracked


def cmd_submit(argv: list[str]) -> int:
    args, msg = split_submit(argv)
    _check_args(args)
    with C.Project.here() as pr, Progress("submit") as prog:
        if not os.path.isfile(os.path.join(pr.projdir, "grunter.py")):
            raise GruntError(f"no grunter.py in {pr.projdir}: run grunt init to write one "
                             "from grunter_example.py (it tells grund how to run the job)")
        ship, untracked = snapshot_list(pr.projdir)
        if untracked:
            shown = ", ".join(untracked[:10]) + (f" and {len(untracked) - 10} more" if len(untracked) > 10 else "")
            _warn(f"not shipped (untracked): {shown}")
        record = provenance.record(pr.projdir, untracked)
        big = big_files(pr.projdir, ship)
        if big:
            _warn("shipping big file(s): " + ", ".join(f"{p} ({n >> 20} MB)" for p, n in big[:10])
                  + "; every job keeps its own copy in the jobs repository")
        prog.update(f"hashing {len(ship)} files")
        tree = snapshot.project_tree(pr.projdir, os.path.join(pr.jobs, ".git"), ship)
        prog.update(f"fetching from {pr.server}")
        pr.sync()

        def fill(rel: str) -> dict[str, str]:
            snapshot.graft(pr.jobs, tree, rel, ship, pr.projdir)
            prog.update(f"committing {len(ship)} files and pushing to {pr.server}")
            return record
        jid = publish_job(pr, args, msg, fill)
        prog.stop()
        _say(jid)
    return 0


def _check_args(args: list[str]) -> None:
    for x in args:
        if "\n" in x:
            raise UsageError("job arguments cannot contain newlines (job.args holds one per line)")


def publish_job(pr: C.Project, args: list[str], msg: str,
                fill: Callable[[str], dict[str, str]]) -> str:
    """Commit and push a new job; return its id.

    ``fill(rel)`` puts the snapshot into the index of the jobs copy at ``rel``
    (the new job directory; see snapshot.py) and returns more job files to
    write ({name: content}, e.g. the provenance).
    """
    prefix = config.prefix()
    state: dict[str, str] = {}

    def build():
        jid = P.format_jobid(prefix, next_number(pr.jobs, prefix))
        state["id"] = jid
        rel = os.path.join("active", jid, pr.proj)
        dest = os.path.join(pr.jobs, rel)
        os.makedirs(dest)
        extra = fill(rel)
        ts = P.now_ts()
        P.write_atomic(os.path.join(dest, P.MESSAGE), msg.rstrip("\n") + "\n")
        P.write_atomic(os.path.join(dest, P.SUBMIT), ts + "\n")
        P.write_atomic(os.path.join(dest, P.ARGS), "".join(x + "\n" for x in args))
        P.write_atomic(os.path.join(dest, P.SERVER), pr.server + "\n")
        for name, text in extra.items():
            P.write_atomic(os.path.join(dest, name), text.encode("utf-8", "surrogateescape"))
        P.write_atomic(os.path.join(dest, "grcmd.submit"), ts + "\n")
        counter = os.path.join(".grunt-ids", prefix)
        os.makedirs(os.path.join(pr.jobs, ".grunt-ids"), exist_ok=True)
        P.write_atomic(os.path.join(pr.jobs, counter), f"{int(jid[3:])}\n")
        return [rel, counter], f"submit {jid}: {msg.strip().splitlines()[0]}"
    pr.publish(build)
    return state["id"]
BIG_FILE = 50 << 20  # bytes: submit warns about shipped files this large


def big_files(top: str, paths: list[str]) -> list[tuple[str, int]]:
    """(path, size) of the regular files of ``paths`` of BIG_FILE bytes or more."""
    big = []
    for p in paths:
        try:
            st = os.lstat(os.path.join(top, p))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size >= BIG_FILE:
            big.append((p, st.st_size))
    return big


def next_number(wc: str, prefix: str) -> int:
    """One more than the highest number this prefix ever used in the repo."""
    n = 0
    text = config.read_first_line(os.path.join(wc, ".grunt-ids", prefix))
    if text and text.isdigit():
        n = int(text)
    for folder in P.FOLDERS:
        try:
            for e in os.scandir(os.path.join(wc, folder)):
                m = P.JOBID_RE.match(e.name)
                if m and m.group(1) == prefix:
                    n = max(n, int(m.group(2)))
        except FileNotFoundError:
            pass
    if n >= 999999:
        raise GruntError(f"job ids for prefix {prefix} are used up")
    return n + 1


# ---------------------------------------------------------------- listing
def cmd_jobs(argv: list[str]) -> int:
    p = _parser("jobs")
    p.add_argument("which", nargs="?", default="active",
                   choices=["active", "done", "archive", "delete", "all"])
    p.add_argument("--json", action="store_true")
    p.add_argument("--tree", action="store_true")
    p.add_argument("--user")
    a = p.parse_args(argv)
    with share.open_project(a.user, share=False) as pr:
        pr.sync()
        folders = P.FOLDERS if a.which == "all" else ("active",) if a.which == "done" else (a.which,)
        jobs = jobcache.scan(pr.jobs, folders)
        if a.which == "done":
            jobs = [j for j in jobs if j.status in J.FINISHED]
        print_jobs(jobs, a.json, tree=a.tree)
        if a.user is None:
            _check_heartbeat(pr, jobs)
    return 0


def lineage(jobs: list[J.Job]) -> list[tuple[J.Job, int]]:
    """Jobs in lineage order: each one followed by the jobs resubmitted from it; (job, depth)."""
    listed = {j.id for j in jobs}
    kids: dict[str, list[J.Job]] = {}
    for j in jobs:
        kids.setdefault(j.parent if j.parent in listed and j.parent != j.id else "", []).append(j)
    out: list[tuple[J.Job, int]] = []
    todo = [(j, 0) for j in reversed(kids.get("", []))]
    while todo:
        j, depth = todo.pop()
        out.append((j, depth))
        todo.extend((k, depth + 1) for k in reversed(kids.get(j.id, [])))
    return out


def _check_heartbeat(pr: C.Project, jobs: list[J.Job]) -> None:
    """Warn when grund has not been seen for a while (its heartbeat came with the fetch)."""
    hb = H.read(pr.jobs)
    if hb is not None:
        if H.age(hb) > H.STALE:
            _warn(f"grund on {pr.server} was last seen {H.describe_age(H.age(hb))} "
                  f"({hb.get('time', '?')}): is it running? (grunt server-status)")
        return
    def waited(job: J.Job) -> float:
        ts = P.parse_ts(job.submit)
        return time.time() - ts.timestamp() if ts else 0.0
    waiting = [j for j in jobs if j.status == J.PENDING and not j.sched_id and waited(j) > H.STALE]
    if waiting:
        _warn(f"grund on {pr.server} has never been seen, and {len(waiting)} job(s) wait "
              "for it: is it running? (grunt server-status)")


def print_jobs(jobs: list[J.Job], as_json: bool = False, tree: bool = False) -> None:
    if as_json:
        print(json.dumps([j.as_json() for j in jobs], indent=1))
        return
    if not jobs:
        _say("no jobs")
        return
    headers = ["ID", "SERVER", "SCHED_ID", "STATUS", "SUBMIT", "START", "END", "ARGS", "MESSAGE"]
    limit = term.width()
    rows = _job_rows(jobs, short=False, tree=tree)
    if limit and max(map(len, term.table(headers, rows).splitlines())) > limit:
        rows = _job_rows(jobs, short=True, tree=tree)   # MM-DD HH:MM instead of the whole time
    # to fit the terminal: the message first, then args, server and scheduler id
    _say(table(headers, rows, colour_col=3, shrink=[8, 7, 1, 2], limit=limit))


def _job_rows(jobs: list[J.Job], short: bool, tree: bool = False) -> list[list[str]]:
    def ts(text: str) -> str:
        text = text.replace(" UTC", "")
        return text[5:16] if short and len(text) >= 16 else text
    rows = []
    for j, depth in lineage(jobs) if tree else [(j, 0) for j in jobs]:
        state = j.status + (f" ({j.exit_code})" if j.exit_code not in (None, 0) else "")
        if j.status == J.PENDING and j.detail:
            state += f" {j.detail.split(' ', 1)[1]}" if " " in j.detail else ""
        if j.interrupted:
            state += f" ({', '.join(sorted(set(j.interrupted)))} interrupted)"
        rows.append(["  " * (depth - 1) + "└ " * (depth > 0) + j.id, j.server, j.sched_id, state,
                     ts(j.submit), ts(j.start), ts(j.end),
                     " ".join(j.args), j.message.splitlines()[0] if j.message else ""])
        for t in j.tasks:
            tstate = t.status + (f" ({t.exit_code})" if t.exit_code not in (None, 0) else "")
            rows.append([f"  _{t.index}", "", "", tstate, "", ts(t.start), ts(t.end), "", ""])
    return rows


def _select(pr: C.Project, words: list[str], default=None) -> list[J.Job]:
    """Jobs named by id expressions; ids missing from a range are skipped."""
    if not words:
        if default is None:
            raise UsageError("which job? give job ids, e.g. 12 or abc000011..22")
        return default()
    prefix = pr.id_prefix()
    found, missing = [], []
    for word in words:
        ids = J.parse_ids([word], prefix)
        got = [j for j in (pr.find(i) for i in ids) if j is not None]
        if not got and len(ids) == 1:
            missing.append(ids[0])
        elif not got:
            missing.append(word)
        found.extend(j for j in got if j.id not in {f.id for f in found})
    if missing:
        raise GruntError(f"no such job in {pr.proj} on {pr.server}: {', '.join(missing)}")
    return found


def _active_unfinished(pr: C.Project) -> list[J.Job]:
    return [j for j in J.scan(pr.jobs, ("active",)) if j.status not in J.FINISHED]


def send_commands(pr: C.Project, cmd: str, jobs: list[J.Job], content: str | None = None) -> None:
    """Commit grcmd.<cmd> into each job and push, one commit for all."""
    if not jobs:
        return
    ids = [j.id for j in jobs]

    def build():
        paths = []
        for jid in ids:
            job = pr.find(jid)
            if job is None:  # gone meanwhile (nuked by another client)
                continue
            rel = os.path.relpath(job.path, pr.jobs)
            P.write_atomic(os.path.join(job.path, f"grcmd.{cmd}"), content or P.now_ts() + "\n")
            paths.append(os.path.join(rel, f"grcmd.{cmd}"))
        if not paths:
            raise GruntError("the jobs are gone from the server")
        return paths, f"{cmd} {' '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}"
    pr.publish(build)


def _json_flag(argv: list[str]) -> tuple[list[str], bool]:
    """(argv without --json, whether it was there)."""
    return [x for x in argv if x != "--json"], "--json" in argv


def cmd_status(argv: list[str]) -> int:
    argv, as_json = _json_flag(argv)
    with C.Project.here() as pr:
        pr.sync()
        jobs = _select(pr, argv, default=lambda: _active_unfinished(pr))
        if not jobs:
            _say("[]" if as_json else "no unfinished jobs")
            return 0
        send_commands(pr, "status", jobs)
        print_jobs(jobs, as_json)
        if not as_json:
            _say(f"asked grund on {pr.server} to refresh {len(jobs)} job(s); see grunt jobs")
    return 0


def cmd_update(argv: list[str]) -> int:
    with C.Project.here() as pr:
        pr.sync()
        files: list[str] = []
        if argv:
            jobs = _select(pr, argv[:1])
            files = argv[1:]
        else:
            jobs = J.scan(pr.jobs, ("active",))
        for f in files:
            if os.path.isabs(f) or ".." in f.split("/") or "\n" in f:
                raise UsageError(f"result file must be a path inside the job: {f}")
        if not jobs:
            _say("no active jobs")
            return 0
        send_commands(pr, "update", jobs, "".join(f + "\n" for f in files) or None)
        for j in jobs:
            _link(pr, j)
        _say(f"asked grund on {pr.server} to copy results of {len(jobs)} job(s); "
             "grunt pull fetches them into gresults/")
    return 0


def cmd_pull(argv: list[str]) -> int:
    p = _parser("pull")
    p.add_argument("--user")
    a = p.parse_args(argv)
    with share.open_project(a.user) as pr, Progress("pull") as prog:
        prog.update(f"fetching the jobs of {pr.proj} from {pr.server}")
        pr.sync(pr.jobs)
        prog.update(f"fetching the results of {pr.proj} from {pr.server}")
        pr.sync(pr.results)
        prog.update("updating gresults/ links")
        if a.user is None:
            relinked = _refresh_links(pr)
        else:
            relinked = sum(_link(pr, j) for j in J.scan(pr.jobs))
        n = len(J.scan(pr.jobs))
        prog.stop()
        _say(f"pulled {pr.proj}{f' of {a.user}' if a.user else ''} from {pr.server}: {n} job(s)"
             + (f", {relinked} link(s) updated" if relinked else ""))
    return 0


def _each_job(argv: list[str], page: bool = False, headers: bool = True):
    """The named jobs, fresh from the server; a header line each when there are several.

    ``page``: the output goes through the pager on a terminal.
    """
    words, owner = _user_option(argv)
    with share.open_project(owner, share=False) as pr:
        pr.sync()
        jobs = _select(pr, words)
        with term.pager() if page else _nothing():
            for j in jobs:
                if len(jobs) > 1 and headers:
                    _say(f"==> {j.id} <==")
                yield j


@contextlib.contextmanager
def _nothing():
    yield


FOLLOW_POLL = 0.5  # seconds between looks at a followed job's output on the server


def _user_option(argv: list[str]) -> tuple[list[str], str | None]:
    """``--user <owner>`` taken out of a command line that is otherwise job ids."""
    words, owner = list(argv), None
    while "--user" in words:
        i = words.index("--user")
        if i + 1 >= len(words):
            raise UsageError("--user needs a user name")
        owner = share.check_user(words[i + 1])
        del words[i:i + 2]
    return words, owner


def cmd_out(argv: list[str]) -> int:
    if argv[:1] in (["-f"], ["--follow"]):
        return _follow(argv[1:])
    for j in _each_job(argv, page=True):
        err = P.read_text(os.path.join(j.path, P.ERROR))
        if err:
            sys.stdout.write(err if err.endswith("\n") else err + "\n")
        outs = [(None, P.OUT)] + [(t.index, f"job.{t.index}.out") for t in j.tasks]
        shown = False
        for idx, name in outs:
            text = P.read_text(os.path.join(j.path, name))
            if text is None:
                continue
            if idx is not None:
                _say(f"--- task {idx} ---")
            sys.stdout.write(text)
            shown = True
        if not shown and not err:
            _say(f"(no output yet: {j.id} is {j.status})")
    sys.stdout.flush()
    return 0


def _follow(argv: list[str]) -> int:
    """``out -f``: the job's output as it grows on the server, until the job ends."""
    if len(argv) != 1:
        raise UsageError("out -f follows one job: grunt out -f <jobid>")
    with C.Project.here() as pr:
        pr.sync()
        jobs = _select(pr, argv)
        if len(jobs) != 1:
            raise UsageError("out -f follows one job, not a range")
        j = jobs[0]
        home = config.home()
        wc = os.path.relpath(S.wc_path(pr.server, pr.proj, "jobs"), home)
        rt = os.path.relpath(os.path.join(config.server_root(pr.server), "runtime"), home)
        sys.stdout.flush()
        with pr.unlocked():  # other grunt commands may run while this one follows
            p = pr.remote.run(["python3", "-c", FOLLOW_PY, rt, wc, j.id, pr.proj, str(FOLLOW_POLL)],
                              check=False, stream=True)
        if p.returncode != 0:
            err = p.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GruntError(f"following {j.id} on {pr.server} failed: "
                             f"{err[-1] if err else f'exit {p.returncode}'}")
    return 0


def cmd_ls(argv: list[str]) -> int:
    argv, as_json = _json_flag(argv)
    listed = []
    for j in _each_job(argv, headers=not as_json):
        text = P.read_text(os.path.join(j.path, P.LIST))
        rows = [r[:3] for r in csv.reader(io.StringIO(text or "")) if len(r) >= 3][1:]
        if as_json:
            listed.append({"id": j.id, "folder": j.folder, "files": None if text is None else
                           [{"file": f, "size": int(n) if n.isdigit() else None, "modified": m}
                            for f, n, m in rows]})
        elif text is None:
            _say("(no job.list yet: grund writes it after the job's first command)")
        else:
            _say(table(["FILE", "SIZE", "MODIFIED"], rows))
    if as_json:
        print(json.dumps(listed, indent=1))
    return 0


def cmd_diff(argv: list[str]) -> int:
    p = _parser("diff")
    p.add_argument("job1")
    p.add_argument("job2", nargs="?")
    p.add_argument("--source", action="store_true")
    a = p.parse_args(argv)
    if a.source and a.job2:
        raise UsageError("diff --source takes one job: grunt diff <jobid> --source")
    with C.Project.here(share=False) as pr:
        pr.sync()
        j1 = _select(pr, [a.job1])
        if len(j1) != 1:
            raise UsageError("diff takes single job ids, not ranges")
        left = f"HEAD:{os.path.relpath(j1[0].path, pr.jobs)}"
        extra: dict[str, str] = {}
        if a.source:
            # the commit lives in the project's checkout: let git in the
            # jobs copy read its objects (read-only, nothing is copied)
            commit, extra = _source_commit(pr, j1[0])
            left, right = commit, left
        elif a.job2:
            j2 = _select(pr, [a.job2])
            if len(j2) != 1:
                raise UsageError("diff takes single job ids, not ranges")
            right = f"HEAD:{os.path.relpath(j2[0].path, pr.jobs)}"
        else:
            right = snapshot.project_tree(pr.projdir, os.path.join(pr.jobs, ".git"),
                                          snapshot_list(pr.projdir)[0])
        sys.stdout.flush()
        colour = "--color=always" if term.use_colour() else "--no-color"
        argv2 = ["git", "diff", "--no-ext-diff", colour, left, right, "--",
                 ":(exclude)job.*", ":(exclude)grcmd.*"]
        with term.pager():
            rc = subprocess.run(argv2, cwd=pr.jobs, env=G.git_env(extra)).returncode
        if rc not in (0, 1):
            raise GruntError("git diff failed")
    return 0


def _source_commit(pr: C.Project, job: J.Job) -> tuple[str, dict[str, str]]:
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


# ---------------------------------------------------------------- links
def _link_path(pr: C.Project, jid: str) -> str:
    if isinstance(pr, share.SharedProject):
        return os.path.join(pr.projdir, "gresults", pr.owner, jid)
    return os.path.join(pr.projdir, "gresults", jid)


def _link(pr: C.Project, job: J.Job) -> bool:
    """Point gresults/<jobid> at the job's results; True when it changed."""
    path, target = _link_path(pr, job.id), pr.results_dir(job)
    if os.path.islink(path):
        if os.readlink(path) == target:
            return False
        os.unlink(path)
    elif os.path.lexists(path):
        raise GruntError(f"{path} exists and is not a link; move it away first")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)
    return True


def _refresh_links(pr: C.Project) -> int:
    """After a pull: links of jobs that moved folder follow them."""
    base = os.path.join(pr.projdir, "gresults")
    n = 0
    try:
        names = [e.name for e in os.scandir(base) if e.is_symlink() and P.JOBID_RE.match(e.name)]
    except FileNotFoundError:
        return 0
    for jid in names:
        job = pr.find(jid)
        if job is not None and _link(pr, job):
            n += 1
    return n


def cmd_link(argv: list[str]) -> int:
    with C.Project.here() as pr:
        for j in _select(pr, argv):
            _link(pr, j)
            _say(f"gresults/{j.id} -> {pr.results_dir(j)}")
    return 0


def cmd_unlink(argv: list[str]) -> int:
    with C.Project.here() as pr:
        for jid in J.parse_ids(argv, config.prefix()) if argv else _usage_ids("unlink"):
            path = _link_path(pr, jid)
            if os.path.islink(path):
                os.unlink(path)
                _say(f"removed gresults/{jid}")
    return 0


def _usage_ids(cmd: str):
    raise UsageError(f"which job? give job ids (see: grunt help {cmd})")


# ---------------------------------------------------------------- job commands
def cmd_cancel(argv: list[str]) -> int:
    with C.Project.here() as pr:
        pr.sync()
        jobs = _select(pr, argv)
        todo = [j for j in jobs if j.status not in J.FINISHED]
        for j in jobs:
            if j not in todo:
                _warn(f"{j.id} is {j.status}: nothing to cancel")
        send_commands(pr, "cancel", todo)
        if todo:
            _say(f"asked grund on {pr.server} to cancel {' '.join(j.id for j in todo)}")
    return 0 if todo or not jobs else 1


def cmd_message(argv: list[str]) -> int:
    p = _parser("message")
    p.add_argument("jobid")
    p.add_argument("text")
    a = p.parse_args(argv)
    if not a.text.strip():
        raise UsageError("the message is empty")
    with C.Project.here() as pr:
        pr.sync()
        jobs = _select(pr, [a.jobid])
        if len(jobs) != 1:
            raise UsageError("message takes one job id")
        jid = jobs[0].id

        def build():
            job = pr.find(jid)
            if job is None:
                raise GruntError(f"{jid} is gone from the server")
            P.write_atomic(os.path.join(job.path, P.MESSAGE), a.text.rstrip("\n") + "\n")
            return [os.path.relpath(os.path.join(job.path, P.MESSAGE), pr.jobs)], f"message {jid}"
        pr.publish(build)
        _say(f"{jid}: {a.text}")
    return 0


def _move_cmd(cmd: str, argv: list[str]) -> int:
    with C.Project.here() as pr:
        pr.sync()
        jobs = _select(pr, argv)
        if cmd == "archive":
            busy = [j for j in jobs if j.status not in J.FINISHED]
            if busy:
                raise GruntError(f"{busy[0].id} is {busy[0].status}: archive takes finished jobs "
                                 f"(cancel it first: grunt cancel {busy[0].id})")
        send_commands(pr, cmd, jobs)
        _say(f"asked grund on {pr.server} to {cmd} {' '.join(j.id for j in jobs)}")
    return 0


def cmd_delete(argv: list[str]) -> int:
    return _move_cmd("delete", argv)


def cmd_archive(argv: list[str]) -> int:
    return _move_cmd("archive", argv)


def cmd_nuke(argv: list[str]) -> int:
    return _move_cmd("nuke", argv)


def cmd_server(argv: list[str]) -> int:
    p = _parser("server")
    p.add_argument("name", nargs="?")
    a = p.parse_args(argv)
    projdir = C.find_projdir(os.getcwd())
    if a.name is None:
        _say(config.project_server(projdir))
        return 0
    config.check_name("server", a.name)
    P.write_atomic(os.path.join(projdir, "grunt.server"), a.name + "\n")
    proj = config.project_name(projdir)
    base = config.client_proj_dir(a.name, proj)
    _say(f"project {proj} now uses server {a.name}")
    if not os.path.isdir(os.path.join(base, "jobs")):
        _warn(f"not set up for {a.name} yet: run grunt newproj {proj} <remote>")
    return 0


# runs on the server, from its home: grunter.py queue in a job, as grund runs it.
# python3 is the program ssh starts (no sh in between), so a server without it
# is reported as such.  argv: <runtime dir> <job dir> grunter.py queue
_QUEUE_PY = ("import os, sys\n"
             "rt, job = (os.path.abspath(a) for a in sys.argv[1:3])\n"
             "if not os.path.isdir(job):\n"
             "    sys.exit(f'{job} is not there yet (is grund running?)')\n"
             "os.chdir(job)\n"
             "sys.argv[1:3] = [rt]\n" + runtime.BOOTSTRAP)


QUEUE_TIMEOUT = 120  # seconds: a scheduler that does not answer must not hang the terminal


def cmd_queue(argv: list[str]) -> int:
    _parser("queue").parse_args(argv)
    with C.Project.here() as pr:
        pr.sync()
        # the jobs working copy is sparse: grunter.py is in the index, not on disk
        shipped = set(G.zsplit(G.git("ls-files", "-z", "--", ":(glob)active/*/*/grunter.py",
                                     cwd=pr.jobs)))
        jobs = [j for j in J.scan(pr.jobs, ("active",))
                if os.path.relpath(os.path.join(j.path, "grunter.py"), pr.jobs) in shipped]
        if not jobs:
            raise GruntError("queue runs the project's grunter.py on the server: submit a job first")
        home = config.home()
        job = os.path.relpath(S.wc_path(pr.server, pr.proj, "jobs"), home) + "/" + \
            os.path.relpath(jobs[-1].path, pr.jobs)
        rt = os.path.relpath(os.path.join(config.server_root(pr.server), "runtime"), home)
        p = pr.remote.run(["python3", "-c", _QUEUE_PY, rt, job, "grunter.py", "queue"],
                          check=False, timeout=QUEUE_TIMEOUT)
        sys.stdout.write(p.stdout.decode("utf-8", "replace"))
        if p.returncode != 0:
            err = p.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GruntError(f"queue failed on {pr.server}: {err[-1] if err else f'exit {p.returncode}'}")
    return 0


WAIT_POLL = 5.0  # seconds between fetches while waiting (GRUNT_WAIT_POLL)


def cmd_wait(argv: list[str]) -> int:
    try:
        poll = float(os.environ.get("GRUNT_WAIT_POLL", WAIT_POLL))
    except ValueError:
        raise UsageError("GRUNT_WAIT_POLL must be a number of seconds") from None
    with C.Project.here() as pr, Progress("wait") as prog:
        pr.sync()
        ids = [j.id for j in _select(pr, argv, default=lambda: _active_unfinished(pr))]
        if not ids:
            _say("no unfinished jobs")
            return 0
        while True:
            found = {i: pr.find(i) for i in ids}
            jobs = [j for j in found.values() if j is not None]
            busy = [j for j in jobs if j.status not in J.FINISHED]
            if not busy:
                break
            prog.update(f"{len(busy)} of {len(ids)} job(s) not finished: "
                        + ", ".join(f"{j.id} {j.status}" for j in busy[:3])
                        + (" ..." if len(busy) > 3 else ""))
            with pr.unlocked():
                time.sleep(poll)
            pr.sync()
    gone = [i for i, j in found.items() if j is None]
    if jobs:
        print_jobs(jobs)
    if gone:
        _warn(f"gone from the server meanwhile: {', '.join(gone)}")
    bad = [j for j in jobs if j.status != J.DONE]
    return 1 if bad or gone else 0


def cmd_server_status(argv: list[str]) -> int:
    p = _parser("server-status")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    with C.Project.here(share=False) as pr:
        pr.sync()
        hb = H.read(pr.jobs) or {}
        try:
            pending = [f"{P.CMD_PATH_RE.match(path).group(4)} {P.CMD_PATH_RE.match(path).group(2)}"
                       for _, path in H.pending_commands(pr.jobs, hb.get("cursor"),
                                                         S.grund_email(pr.server), pr.proj)]
        except G.GitError:  # a cursor this copy does not know
            pending = None
        unfinished = len(_active_unfinished(pr))
    age = H.age(hb) if hb else None
    info = {"server": pr.server, "project": pr.proj, "seen": hb.get("time"),
            "age": None if age is None else int(age), "version": hb.get("version"),
            "pid": hb.get("pid"), "host": hb.get("host"), "pending": pending,
            "unfinished": unfinished}
    if a.json:
        print(json.dumps(info, indent=1))
    else:
        _say(f"server      {pr.server} (project {pr.proj})")
        if hb:
            _say(f"grund       {hb.get('version', '?')}, pid {hb.get('pid', '?')} on {hb.get('host', '?')}")
            _say(f"last seen   {hb.get('time', '?')} ({H.describe_age(age)})")
        else:
            _say("grund       never seen (no heartbeat yet)")
        if pending is None:
            _say("pending     unknown (grund's position is not in this copy)")
        else:
            _say(f"pending     {len(pending)} command(s) not yet processed"
                 + (f": {', '.join(pending[:5])}{' ...' if len(pending) > 5 else ''}" if pending else ""))
        _say(f"unfinished  {unfinished} job(s)")
    if not hb or age > H.STALE:
        if not a.json:
            _warn(f"grund on {pr.server} is not running, or not for this project: start it there "
                  f"with grund --cron (see the crontab line in the README)")
        return 1
    return 0


def cmd_init(argv: list[str]) -> int:
    p = _parser("init")
    p.add_argument("--force", action="store_true")
    a = p.parse_args(argv)
    projdir = C.find_projdir(os.getcwd())
    dst = os.path.join(projdir, "grunter.py")
    if os.path.lexists(dst) and not a.force:
        raise GruntError(f"{dst} exists already: edit it, or start over with grunt init --force")
    P.write_atomic(dst, runtime.example_grunter())
    _say(f"wrote {dst} from grunter_example.py.  Edit the SETTINGS at its top:\n"
         "  command     the program to run; the job's args are appended (now: sh run.sh)\n"
         "  time, memory, cpus, partition, ...   what to ask the scheduler for\n"
         "  results     result file patterns (empty: every file the job makes)\n"
         "then: git add grunter.py && grunt submit -m 'first run'")
    return 0


def complete_ids() -> int:
    """Job ids for shell completion, from the local jobs copy only (no ssh, no lock)."""
    try:
        projdir = C.find_projdir(os.getcwd())
        base = os.path.join(config.client_proj_dir(config.project_server(projdir),
                                                    config.project_name(projdir)), "jobs")
        ids = set()
        for folder in P.FOLDERS:
            with contextlib.suppress(OSError):
                ids.update(e.name for e in os.scandir(os.path.join(base, folder))
                           if J.is_job_id(e.name))
    except GruntError:
        return 1
    _say("\n".join(sorted(ids)))
    return 0
def cmd_share(argv: list[str]) -> int:
    p = _parser("share")
    p.add_argument("proj")
    p.add_argument("group")
    a = p.parse_args(argv)
    server = config.default_server()
    share.share_project(server, a.proj, a.group)
    _say(f"project {a.proj} on {server} is now readable (not writable) by group {a.group}; "
         f"its members run: grunt jobs --user {getpass.getuser()}")
    return 0


from .history import cmd_log, cmd_resubmit, cmd_show, cmd_undelete  # noqa: E402


def cmd_help(argv: list[str]) -> int:
    if argv:
        name = ALIASES.get(argv[0], argv[0])
        if name not in HELP:
            raise UsageError(f"no such command: {argv[0]} (see: grunt help)")
        usage, text = HELP[name]
        _say(f"usage: grunt {usage}\n\n{text}")
        return 0
    _say("usage: grunt <command> [args]\n\ncommands:")
    for name, (usage, text) in HELP.items():
        _say(f"  {usage:48s} {text.splitlines()[0]}")
    _say("\nJob ids: abc000012, 12 (your job 12), lists, and ranges like abc000011..22.\n"
         "grunt help <command> tells more.")
    return 0


COMMANDS = {name: globals()[f"cmd_{name.replace('-', '_')}"] for name in HELP}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        return cmd_help([])
    name = ALIASES.get(argv[0], argv[0])
    if argv[0] == "--version":
        _say(f"grunt {__version__}")
        return 0
    if argv[0] == "_ids":  # for the bash completion
        return complete_ids()
    fn = COMMANDS.get(name)
    try:
        if fn is None:
            raise UsageError(f"unknown command '{argv[0]}' (see: grunt help)")
        if "-h" in argv[1:2] or "--help" in argv[1:2]:
            return cmd_help([name])
        return fn(argv[1:])
    except GruntError as e:
        print(f"grunt: error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except KeyboardInterrupt:
        print("grunt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        print(f"grunt: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except Exception:  # a bug: show where, and say that it is one
        traceback.print_exc()
        print("grunt: internal error (a bug in grunt, please report it with the lines above)",
              file=sys.stderr)
        return 1
