"""The client's cache of parsed jobs, so that `grunt jobs` need not read every job's files.

Reading ~9 small files per job costs most of a listing of thousands of jobs.
The cache (``.git/grunt-jobs-cache`` in the client's jobs copy) keeps each
job directory's parsed record keyed by the git tree id of ``<folder>/<jobid>``
at HEAD: one ``git ls-tree`` of the folders gives every tree id, a job whose
tree id is unchanged is taken from the cache, the others are read from disk
as before.  Any change in a job directory (grund writing job.end, a command,
a moved job) gives it a new tree id, so the cache cannot serve a stale record
of a committed state.  The cache also keeps the commit it was made at: at the
same commit (nothing new was fetched) the trees are the same, and the listing
needs no git process at all.  Only for a working copy that is HEAD (after a
sync, no half-built command): otherwise the full read.
"""
from __future__ import annotations

import dataclasses
import json
import os

from .. import git as G
from ..gruntlib import protocol as P
from ..jobs import Job, Task, load, scan as full_scan

# the record's shape: a cache written by another version of Job is not used
VERSION = [3, sorted(f.name for f in dataclasses.fields(Job)), sorted(Task._fields)]


def scan(wc: str, folders: tuple[str, ...] = P.FOLDERS) -> list[Job]:
    """jobs.scan(wc, folders), with the records of unchanged job directories from the cache."""
    if os.path.exists(P.state_file(wc, P.BUILDING)):
        return full_scan(wc, folders)
    head = G.loose_ref(wc, "HEAD")
    data = _read(wc)
    old = data.get("jobs", {})
    if head and data.get("head") == head and data.get("folders") == list(folders):
        # the same commit as the last listing: the same trees, every record from the cache
        found = [_job(d, wc, *rel.split("/")) for rel, hit in old.items() for d in hit[1]]
        found.sort(key=lambda j: (j.id[:3], j.number))
        return found
    try:
        listing = G.git("ls-tree", "-z", "-d", "HEAD", "--", *(f"{f}/" for f in folders), cwd=wc)
    except G.GitError:   # no commit yet
        return full_scan(wc, folders)
    new: dict[str, list] = {}
    found: list[Job] = []
    for item in G.zsplit(listing):
        meta, rel = item.split("\t", 1)
        folder, _, jid = rel.partition("/")
        if not P.is_job_id(jid):
            continue
        tree = meta.split()[2]
        hit = old.get(rel)
        if hit is not None and hit[0] == tree:
            jobs = [_job(d, wc, folder, jid) for d in hit[1]]
            new[rel] = hit
        else:
            jobs = _load_dir(wc, folder, jid)
            new[rel] = [tree, [_record(j) for j in jobs]]
        found.extend(jobs)
    if new != old or data.get("head") != head or data.get("folders") != list(folders):
        _write(wc, {"jobs": new, "head": head, "folders": list(folders)})
    found.sort(key=lambda j: (j.id[:3], j.number))
    return found


def _load_dir(wc: str, folder: str, jid: str) -> list[Job]:
    return [load(wc, where) for where in P.projects_of(wc, folder, jid)]


def _record(job: Job) -> dict:
    d = dataclasses.asdict(job)
    d["tasks"] = [list(t) for t in job.tasks]   # as JSON gives them back
    for k in ("id", "folder", "path"):   # known from where the job lies
        del d[k]
    return d


def _job(d: dict, wc: str, folder: str, jid: str) -> Job:
    d = dict(d, tasks=[Task(*t) for t in d["tasks"]])
    # (JobPath.under, without a join per job)
    return Job(id=jid, folder=folder, path=f"{wc}{os.sep}{folder}{os.sep}{jid}{os.sep}{d['proj']}", **d)


def _read(wc: str) -> dict:
    """{"jobs": {rel: [tree, [records]]}, "head": the commit listed, "folders": [...]}."""
    try:
        with open(P.state_file(wc, P.JOBS_CACHE), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    return data if isinstance(data.get("jobs"), dict) else {}


def _write(wc: str, data: dict) -> None:
    try:
        P.write_atomic(P.state_file(wc, P.JOBS_CACHE),
                       json.dumps(dict(data, version=VERSION), separators=(",", ":")))
    except OSError:
        pass   # a cache: the next listing reads the files again


def listing_key(wc: str, options: list) -> "str | None":
    """What a listing's output depends on: the commit of the copy and ``options`` (the
    command's flags, the terminal's width and colour); None when that is not all
    (a half-built command, a ref git has packed)."""
    head = G.loose_ref(wc, "HEAD")
    if head is None or os.path.exists(P.state_file(wc, P.BUILDING)):
        return None
    return json.dumps([VERSION, head, options])


def cached_listing(wc: str, key: str) -> "tuple[str, list[str]] | None":
    """(output, what it keeps for check_grund) of the last listing made with ``key``, or None."""
    try:
        with open(P.state_file(wc, P.JOBS_LISTING), encoding="utf-8") as f:
            if f.readline().rstrip("\n") == key:
                kept = json.loads(f.readline())
                return f.read(), [str(x) for x in kept]
    except (OSError, ValueError, TypeError):
        pass
    return None


def keep_listing(wc: str, key: str, text: str, kept: "list[str]") -> None:
    try:
        P.write_atomic(P.state_file(wc, P.JOBS_LISTING), key + "\n" + json.dumps(kept) + "\n" + text)
    except OSError:
        pass   # a cache: the next listing is made again
