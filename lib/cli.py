"""grunt: the client.  One function per command; ``main(argv) -> int``."""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import traceback

from . import client as C, config, git as G, jobs as J, protocol as P, runtime, server as S, snapshot
from .errors import GruntError, UsageError
from .remote import Remote
from .term import table

HELP: dict[str, tuple[str, str]] = {
    "newproj": ("newproj <proj> [<remote>]",
                "On the server (one argument): create the project's repositories under ~/grunt.\n"
                "On the client: set the project up against <remote>, which is [user@]host\n"
                "(an ssh-config alias works) or an absolute path standing for the server's home."),
    "newproj-server": ("newproj-server <proj>",
                       "From an existing project: ask grund on the server to create project <proj>."),
    "submit": ("submit [args...] -m 'message'",
               "Snapshot the project's git-tracked files (plus grunter.py) into a new job,\n"
               "push it and print the job id.  -m 'message' must come last."),
    "jobs": ("jobs [active|done|archive|delete|all] [--json]",
             "List jobs: id, server, scheduler id, status, submit, start, end, args, message.\n"
             "Default: active.  done: finished active jobs.  --json: machine-readable."),
    "status": ("status [jobid..]",
               "Ask grund to refresh the scheduler state of the jobs (default: unfinished active jobs)."),
    "update": ("update [jobid] [files..]",
               "Ask grund to copy results into the results repository (default: every active job)\n"
               "and link gresults/<jobid> to them.  Alias: results."),
    "pull": ("pull", "Fetch the jobs and results repositories from the server."),
    "out": ("out <jobid..>", "Print the jobs' output (job.out, and job.error when submission failed)."),
    "ls": ("ls <jobid..>", "List the files of the jobs on the server (from job.list)."),
    "diff": ("diff <jobid1> [jobid2]",
             "Diff a job against the current project, or two jobs (job.* and grcmd.* left out)."),
    "link": ("link <jobid..>", "Make gresults/<jobid> point at the job's results."),
    "unlink": ("unlink <jobid..>", "Remove gresults/<jobid> links."),
    "cancel": ("cancel <jobid..>", "Cancel the jobs (passed to grunter.py cancel)."),
    "message": ("message <jobid> 'new text'", "Replace a job's message."),
    "delete": ("delete <jobid..>", "Move the jobs to delete/ (a running job is canceled first)."),
    "archive": ("archive <jobid..>", "Move finished jobs to archive/."),
    "nuke": ("nuke <jobid..>", "Remove the jobs and their results for good."),
    "server": ("server [<name>]", "Show the project's server, or set it (file grunt.server)."),
    "queue": ("queue", "Show the scheduler queue and partitions on the server (grunter.py queue)."),
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
    a = p.parse_args(argv)
    config.check_name("project", a.proj)
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
        os.makedirs(base, mode=0o700, exist_ok=True)
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
            G.git("init", "-q", "-b", C.BRANCH, tmp)
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
def split_submit(argv: list[str]) -> tuple[list[str], str]:
    """``[args...] -m msg`` -> (args, msg); -m must come last."""
    rest = list(argv)
    msg = None
    if len(rest) >= 2 and rest[-2] in ("-m", "--message"):
        msg, rest = rest[-1], rest[:-2]
    elif rest and rest[-1].startswith("-m") and len(rest[-1]) > 2:
        msg, rest = rest[-1][2:], rest[:-1]
    if any(x in ("-m", "--message") for x in rest):
        raise UsageError("-m 'message' must come last: grunt submit [args...] -m 'why'")
    if msg is None:
        raise UsageError("a message is required: grunt submit [args...] -m 'why'")
    if not msg.strip():
        raise UsageError("the message is empty: grunt submit [args...] -m 'why'")
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
    for x in args:
        if "\n" in x:
            raise UsageError("job arguments cannot contain newlines (job.args holds one per line)")
    with C.Project.here() as pr:
        if not os.path.isfile(os.path.join(pr.projdir, "grunter.py")):
            raise GruntError(f"no grunter.py in {pr.projdir}: copy grunter_example.py there "
                             "as grunter.py (it tells grund how to run the job)")
        ship, untracked = snapshot_list(pr.projdir)
        if untracked:
            shown = ", ".join(untracked[:10]) + (f" and {len(untracked) - 10} more" if len(untracked) > 10 else "")
            _warn(f"not shipped (untracked): {shown}")
        prefix = config.prefix()
        tree = snapshot.project_tree(pr.projdir, os.path.join(pr.jobs, ".git"), ship)
        pr.sync()
        state: dict[str, str] = {}

        def build():
            jid = P.format_jobid(prefix, next_number(pr.jobs, prefix))
            state["id"] = jid
            rel = os.path.join("active", jid, pr.proj)
            dest = os.path.join(pr.jobs, rel)
            os.makedirs(dest)
            snapshot.graft(pr.jobs, tree, rel, ship, pr.projdir)
            ts = P.now_ts()
            P.write_atomic(os.path.join(dest, P.MESSAGE), msg.rstrip("\n") + "\n")
            P.write_atomic(os.path.join(dest, P.SUBMIT), ts + "\n")
            P.write_atomic(os.path.join(dest, P.ARGS), "".join(x + "\n" for x in args))
            P.write_atomic(os.path.join(dest, P.SERVER), pr.server + "\n")
            P.write_atomic(os.path.join(dest, "grcmd.submit"), ts + "\n")
            counter = os.path.join(".grunt-ids", prefix)
            os.makedirs(os.path.join(pr.jobs, ".grunt-ids"), exist_ok=True)
            P.write_atomic(os.path.join(pr.jobs, counter), f"{int(jid[3:])}\n")
            return [rel, counter], f"submit {jid}: {msg.strip().splitlines()[0]}"
        pr.publish(build)
        _say(state["id"])
    return 0


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
    a = p.parse_args(argv)
    with C.Project.here(share=False) as pr:
        pr.sync()
        folders = P.FOLDERS if a.which == "all" else ("active",) if a.which == "done" else (a.which,)
        jobs = J.scan(pr.jobs, folders)
        if a.which == "done":
            jobs = [j for j in jobs if j.status in J.FINISHED]
        print_jobs(jobs, a.json)
    return 0


def print_jobs(jobs: list[J.Job], as_json: bool = False) -> None:
    if as_json:
        print(json.dumps([j.as_json() for j in jobs], indent=1))
        return
    if not jobs:
        _say("no jobs")
        return
    rows = []
    for j in jobs:
        state = j.status + (f" ({j.exit_code})" if j.exit_code not in (None, 0) else "")
        if j.status == J.PENDING and j.detail:
            state += f" {j.detail.split(' ', 1)[1]}" if " " in j.detail else ""
        rows.append([j.id, j.server, j.sched_id, state, j.submit.replace(" UTC", ""),
                     j.start.replace(" UTC", ""), j.end.replace(" UTC", ""),
                     " ".join(j.args), j.message.splitlines()[0] if j.message else ""])
        for t in j.tasks:
            tstate = t.status + (f" ({t.exit_code})" if t.exit_code not in (None, 0) else "")
            rows.append([f"  _{t.index}", "", "", tstate, "", t.start.replace(" UTC", ""),
                         t.end.replace(" UTC", ""), "", ""])
    _say(table(["ID", "SERVER", "SCHED_ID", "STATUS", "SUBMIT", "START", "END", "ARGS", "MESSAGE"],
               rows, colour_col=3))


def _select(pr: C.Project, words: list[str], default=None) -> list[J.Job]:
    """Jobs named by id expressions; ids missing from a range are skipped."""
    if not words:
        if default is None:
            raise UsageError("which job? give job ids, e.g. 12 or abc000011..22")
        return default()
    prefix = config.prefix()
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


def cmd_status(argv: list[str]) -> int:
    with C.Project.here() as pr:
        pr.sync()
        jobs = _select(pr, argv, default=lambda: _active_unfinished(pr))
        if not jobs:
            _say("no unfinished jobs")
            return 0
        send_commands(pr, "status", jobs)
        print_jobs(jobs)
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
    _parser("pull").parse_args(argv)
    with C.Project.here() as pr:
        pr.sync(pr.jobs)
        pr.sync(pr.results)
        relinked = _refresh_links(pr)
        n = len(J.scan(pr.jobs))
        _say(f"pulled {pr.proj} from {pr.server}: {n} job(s)"
             + (f", {relinked} link(s) updated" if relinked else ""))
    return 0


def _each_job(argv: list[str]):
    """The named jobs, fresh from the server; a header line each when there are several."""
    with C.Project.here(share=False) as pr:
        pr.sync()
        jobs = _select(pr, argv)
        for j in jobs:
            if len(jobs) > 1:
                _say(f"==> {j.id} <==")
            yield j


def cmd_out(argv: list[str]) -> int:
    for j in _each_job(argv):
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


def cmd_ls(argv: list[str]) -> int:
    for j in _each_job(argv):
        text = P.read_text(os.path.join(j.path, P.LIST))
        if text is None:
            _say("(no job.list yet: grund writes it after the job's first command)")
            continue
        rows = [r for r in csv.reader(io.StringIO(text))][1:]
        _say(table(["FILE", "SIZE", "MODIFIED"], [r[:3] for r in rows if len(r) >= 3]))
    return 0


def cmd_diff(argv: list[str]) -> int:
    p = _parser("diff")
    p.add_argument("job1")
    p.add_argument("job2", nargs="?")
    a = p.parse_args(argv)
    with C.Project.here(share=False) as pr:
        pr.sync()
        j1 = _select(pr, [a.job1])
        if len(j1) != 1:
            raise UsageError("diff takes single job ids, not ranges")
        left = f"HEAD:{os.path.relpath(j1[0].path, pr.jobs)}"
        if a.job2:
            j2 = _select(pr, [a.job2])
            if len(j2) != 1:
                raise UsageError("diff takes single job ids, not ranges")
            right = f"HEAD:{os.path.relpath(j2[0].path, pr.jobs)}"
        else:
            right = snapshot.project_tree(pr.projdir, os.path.join(pr.jobs, ".git"),
                                          snapshot_list(pr.projdir)[0])
        sys.stdout.flush()
        argv2 = ["git", "diff", "--no-ext-diff", left, right, "--",
                 ":(exclude)job.*", ":(exclude)grcmd.*"]
        if not sys.stdout.isatty():
            argv2.insert(2, "--no-color")
        rc = subprocess.run(argv2, cwd=pr.jobs, env=G.git_env()).returncode
        if rc not in (0, 1):
            raise GruntError("git diff failed")
    return 0


# ---------------------------------------------------------------- links
def _link_path(pr: C.Project, jid: str) -> str:
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
        from . import __version__
        _say(f"grunt {__version__}")
        return 0
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
