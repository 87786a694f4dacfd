"""The commands grund carries out itself, and the one place that routes a
``grcmd.<cmd>`` file: core commands here, anything else to ``grunter.py <cmd>``.

Core commands: ``update``/``results`` (copy results), ``delete``, ``archive``,
``nuke``, ``undelete`` (move a job in both repositories) and
``newproj-server`` (create another project on this server).
"""
import logging
import os
import shutil
from typing import Callable

from ..errors import GruntError
from ..gruntlib import protocol as P
from ..gruntlib.jobdir import JobDir
from . import followup, repos
from .cursor import Attempt
from .grunter import Result
from .results import copy_results
from .workcopy import WorkCopy

log = logging.getLogger("grund")
MOVES = {"delete": "delete", "archive": "archive", "nuke": None, "undelete": "active"}
Grunter = Callable[[JobDir, str], Result]


def run(path: str, attempt: Attempt, jobs: WorkCopy, results: WorkCopy, grunter: Grunter,
        earlier_submit: "Callable[[JobDir], object]",
        ended: "Callable[[JobDir, dict], None]", commit: "Callable[..., None]") -> None:
    """Carry out the command file ``path`` (relative to the jobs working copy);
    ``commit(job, msg, was_at_rest)`` commits the job's files and finishes a job that ended."""
    where, cmd = P.parse_command(path)
    job = JobDir(where.under(jobs.path))
    if not os.path.isdir(job.path):
        log.info("%s: %s: job is gone, skipping %s", where.proj, where.jobid, cmd)
        return
    content = P.read_text(job.file(P.CMD_PREFIX + cmd)) or ""
    before = True   # the job was at rest before: only a grunter call below can end it
    log.info("%s: %s %s%s", where.proj, cmd, where.jobid,
             " (resumed after a crash)" if attempt.resumed else "")
    if cmd in MOVES:
        return move(jobs, results, where, cmd, grunter)
    if cmd in ("update", "results"):
        files = [ln for ln in content.splitlines() if ln.strip()]
        if len(files) == 1 and P.parse_ts(files[0]):
            files = []
        copy_results(job, results, files, grunter)
    elif cmd == "newproj-server":
        newproj_server(job, content.strip(), jobs.server)
    elif cmd == "submit" and attempt.resumed and job.submitted():
        job.log("submit: grund was interrupted after submitting; not submitted again")
        if job.at_rest():  # it ended already; the copy may have been cut short
            copy_results(job, results, [], grunter)
    elif cmd == "submit" and attempt.resumed and earlier_submit(job) is not None:
        if job.submitted() and job.at_rest():  # it ended already
            copy_results(job, results, [], grunter)
    elif cmd == "submit" and followup.held(job):
        followup.release(job, jobs.path, lambda j: grunter(j, "submit"), ended)
    else:
        before = job.submitted() and job.at_rest()
        grunter(job, cmd)
    commit(job, f"{cmd} {where.jobid}", before)


def newproj_server(job: JobDir, name: str, server: str) -> None:
    try:
        existed = repos.create_project(server, name)
        job.log(f"newproj-server {name}: {'exists' if existed else 'created'}")
    except GruntError as e:
        job.log(f"newproj-server {name}: {e}")


def move(jobs: WorkCopy, results: WorkCopy, where: P.JobPath, cmd: str, grunter: Grunter) -> None:
    """Move a job to another folder (or nuke it) in both repositories, one commit each.

    A job that may still run is canceled first (delete, nuke).
    """
    job = JobDir(where.under(jobs.path))
    if cmd in ("delete", "nuke") and not job.at_rest():
        grunter(job, "cancel")
    target = MOVES[cmd]
    if target == where.folder or cmd == "undelete" and where.folder != "delete":
        return
    for wc in (jobs, results):
        if not os.path.isdir(os.path.join(wc.path, where.id_rel)):
            continue
        if target is None:
            wc.git("rm", "-r", "-q", "-f", "--ignore-unmatch", "--", where.id_rel)
            shutil.rmtree(os.path.join(wc.path, where.id_rel), ignore_errors=True)
        else:
            dest = where.moved(target)
            if os.path.exists(os.path.join(wc.path, dest.id_rel)):
                log.error("%s: cannot %s %s: %s exists", where.proj, cmd, where.jobid,
                          os.path.join(wc.path, dest.id_rel))
                return
            os.makedirs(os.path.join(wc.path, target), exist_ok=True)
            # tracked changes and the job files; the job's outputs stay out
            # of the jobs repo (results are copied to the results repo)
            wc.git("add", "-u", "--", where.id_rel)
            if wc is jobs:
                wc.git("add", "-f", "--", where.file("job.*"))
            # git mv renames the directory itself: the untracked outputs go along
            wc.git("mv", where.id_rel, dest.id_rel)
            if wc is jobs:
                JobDir(dest.under(wc.path)).log(f"{cmd}: moved from {where.folder}/ to {target}/")
                wc.git("add", "-f", "--", dest.file(P.LOG))
        wc.commit(f"{cmd} {where.jobid}")
