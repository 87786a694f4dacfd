"""The digest line: what the jobs did since the user's last command.

Every command that fetches the jobs repository compares the commits it moved
over (only the job directories that changed are read) with what the last
command saw, kept in ``.git/grunt-digest``, and prints one line on stderr::

    grunt: since 14:02: 12 Done, 1 Failed (abc000031), 1 Timeout -> retried

Off with ``GRUNT_DIGEST=0`` or ``git config grunt.digest false``.  It never
stops a command: anything that goes wrong here only loses the line.
"""
from __future__ import annotations

import json
import os
import time

from .. import git as G, jobs as J
from ..gruntlib import protocol as P

SHOWN_IDS = 3     # ids named per state that is not Done


def head_of(wc: str, ref: str) -> str:
    """A ref's commit read from its file (no git process); "" when packed or missing."""
    path = os.path.join(wc, ".git", *ref.split("/"))
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except (OSError, UnicodeDecodeError):
        return ""
    if text.startswith("ref: "):
        return head_of(wc, text[5:])
    return text


def enabled(projdir: str) -> bool:
    if os.environ.get("GRUNT_DIGEST", "").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        value = G.git("config", "--get", "grunt.digest", cwd=projdir,
                      check=False).decode("utf-8", "replace")
    except (G.GitError, OSError):
        return True
    return value.strip().lower() not in ("0", "false", "no", "off")


def _load(path: str) -> dict:
    try:
        data = json.loads(P.read_text(path) or "null")
    except ValueError:
        data = None
    return data if isinstance(data, dict) and isinstance(data.get("jobs"), dict) else {}


def changes(wc: str, old: str, new: str, seen: dict) -> "tuple[list[J.Job], list[dict]]":
    """(jobs that finished, attempts grund retried) in the commits old..new, against ``seen``."""
    paths = G.zsplit(G.git("diff", "--name-only", "-z", old, new, "--", "active", cwd=wc))
    dirs = {"/".join(p.split("/")[:3]) for p in paths if p.count("/") >= 3}
    ended, retried = [], []
    for rel in sorted(dirs):
        where = P.JobPath.parse(rel)
        if where is None or not os.path.isdir(where.under(wc)):
            continue
        j = J.load(wc, where)
        status, n = (seen.get(j.id) or [None, 0])[:2]
        retried += [r for r in j.attempts[n:] if r.get("next") and "round" not in r]
        if j.finished and (status != j.status or len(j.attempts) != n):
            ended.append(j)
        seen[j.id] = [j.status, len(j.attempts)]
    return ended, retried


def line(since: float, ended: "list[J.Job]", retried: "list[dict]") -> str:
    when = time.localtime(since)
    stamp = time.strftime("%H:%M" if time.time() - since < 20 * 3600 else "%m-%d %H:%M", when)
    parts = []
    for state in dict.fromkeys(j.status for j in ended):
        ids = [j.id for j in ended if j.status == state]
        named = "" if state == J.DONE else " (" + ", ".join(ids[:SHOWN_IDS]) + (
            f", +{len(ids) - SHOWN_IDS}" if len(ids) > SHOWN_IDS else "") + ")"
        parts.append(f"{len(ids)} {state}{named}")
    for state in dict.fromkeys(r.get("status", "?") for r in retried):
        parts.append(f"{sum(r.get('status', '?') == state for r in retried)} {state} -> retried")
    return f"since {stamp}: " + ", ".join(parts)


def note(wc: str, projdir: str, old: str) -> "str | None":
    """The digest line for the move from commit ``old`` to the copy's HEAD, or None."""
    new = head_of(wc, "HEAD")
    path = P.state_file(wc, P.DIGEST)
    data = _load(path)
    now = time.time()
    try:
        if not old or not new or old == new or not enabled(projdir):
            # the user's last command is now
            P.write_atomic(path, json.dumps({"time": now, "jobs": data.get("jobs", {})}) + "\n")
            return None
        seen = data.get("jobs", {})
        ended, retried = changes(wc, old, new, seen)
        since = float(data.get("time", now))
        P.write_atomic(path, json.dumps({"time": now, "jobs": seen}) + "\n")
    except (G.GitError, OSError, ValueError):
        return None
    if not data or not (ended or retried):
        return None
    return line(since, ended, retried)
