"""A job's record over time: show, log, resubmit, undelete."""
from __future__ import annotations

import os

from . import cli, client as C, config, git as G, jobs as J, protocol as P, provenance, share, snapshot
from .errors import GruntError, UsageError

LOG_FORMAT = "%ct%x00%cd%x00%h%x00%an%x00%s"


def _one_job(pr, words: list[str], cmd: str) -> J.Job:
    jobs = cli._select(pr, words)
    if len(jobs) != 1:
        raise UsageError(f"{cmd} takes one job id")
    return jobs[0]


def _job_paths(jid: str) -> list[str]:
    """Every place a job can have been in a repository (it moves between folders)."""
    return [f"{folder}/{jid}" for folder in P.FOLDERS]


def commits(wc: str, jid: str) -> list[tuple[int, str, str, str, str]]:
    """(time, "YYYY-MM-DD HH:MM:SS UTC", short hash, author, subject) of the commits touching a job."""
    raw = G.git("log", "-z", f"--format={LOG_FORMAT}", "--date=format-local:%Y-%m-%d %H:%M:%S UTC",
                "--", *_job_paths(jid), cwd=wc, env={"TZ": "UTC"})
    out = []
    fields = raw.decode("utf-8", "replace").split("\0")
    for i in range(0, len(fields) - 4, 5):
        ct, date, short, author, subject = (f.strip("\n") for f in fields[i:i + 5])
        out.append((int(ct), date, short, author, subject))
    return out


def cmd_show(argv: list[str]) -> int:
    words, owner = cli._user_option(argv)
    with share.open_project(owner, share=False) as pr:
        pr.sync()
        j = _one_job(pr, words, "show")
        state = j.status + (f" (exit {j.exit_code})" if j.exit_code is not None else "")
        if j.detail and j.status not in J.FINISHED:
            state += f", scheduler: {j.detail}"
        msg = j.message.splitlines() or [""]
        rows = [("job", f"{j.id} ({j.folder})"), ("message", msg[0]),
                *(("", ln) for ln in msg[1:]),
                ("args", " ".join(j.args) if j.args else "(none)"), ("state", state),
                ("server", j.server), ("scheduler id", j.sched_id or "-"),
                ("submit", j.submit or "-"), ("start", j.start or "-"), ("end", j.end or "-")]
        if j.parent:
            rows.append(("resubmit of", j.parent))
        rows += provenance.describe(j.path)
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            cli._say(f"{k:<{width}}  {v}".rstrip())
    return 0


def cmd_log(argv: list[str]) -> int:
    words, owner = cli._user_option(argv)
    if len(words) != 1:
        raise UsageError("log takes one job id: grunt log <jobid>")
    with share.open_project(owner) as pr:
        pr.sync()
        pr.sync(pr.results)
        ids = J.parse_ids(words, pr.id_prefix())
        if len(ids) != 1:
            raise UsageError("log takes one job id, not a range")
        jid = ids[0]
        found = [(c, "jobs") for c in commits(pr.jobs, jid)]
        found += [(c, "results") for c in commits(pr.results, jid)]
        if not found:
            raise GruntError(f"no such job in {pr.proj} on {pr.server}: {jid} was never used")
        found.sort(key=lambda x: x[0][0])
        rows = [[date, short, repo, author, subject] for (_, date, short, author, subject), repo in found]
        cli._say(cli.table(["TIME", "COMMIT", "REPO", "BY", "WHAT"], rows))
    return 0


def cmd_resubmit(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        raise UsageError("which job? grunt resubmit <jobid> [args...] -m 'why'")
    args, msg = cli.split_submit(argv[1:], usage="resubmit <jobid> [args...]")
    cli._check_args(args)
    with C.Project.here() as pr:
        pr.sync()
        parent = _one_job(pr, argv[:1], "resubmit")
        first = G.out("log", "--no-renames", "--diff-filter=A", "--format=%H", "--",
                      f"active/{parent.id}/{pr.proj}/grcmd.submit", cwd=pr.jobs).split()
        if not first:
            raise GruntError(f"the submit of {parent.id} is not in the history of {pr.proj}")
        stored = snapshot.stored_tree(pr.jobs, f"{first[-1]}:active/{parent.id}/{pr.proj}")
        extra = {P.PARENT: parent.id + "\n"}
        for name in (P.SOURCE, P.DIRTY, P.PATCH, P.UNTRACKED):  # the same code, the same origin
            text = P.read_text(os.path.join(parent.path, name))
            if text is not None:
                extra[name] = text

        def fill(rel: str) -> dict[str, str]:
            # the snapshot exactly as it was submitted, modes and symlinks
            # included, without its job files: a few git calls, any size
            snapshot.graft(pr.jobs, stored[0], rel, stored[1], pr.projdir)
            return extra
        jid = cli.publish_job(pr, args or parent.args, msg, fill)
        cli._say(jid)
    return 0


def cmd_undelete(argv: list[str]) -> int:
    with C.Project.here() as pr:
        pr.sync()
        if not argv:
            raise UsageError("which job? give job ids (see: grunt help undelete)")
        todo: list[J.Job] = []
        for word in argv:
            ids = J.parse_ids([word], config.prefix())
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
            raise GruntError(f"no deleted jobs among {' '.join(argv)}")
        cli.send_commands(pr, "undelete", todo)
        cli._say(f"asked grund on {pr.server} to undelete {' '.join(j.id for j in todo)}")
    return 0
