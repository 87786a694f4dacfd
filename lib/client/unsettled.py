"""Changes whose push lost its answer: sent, but not known to have arrived.

When the connection breaks after a push's data went out and before the
server answered, and the look that follows cannot tell either, grunt cannot
know whether the change (a new job, a command) arrived.  It says so
(errors.OutcomeUnknown), and keeps the commit here, in the jobs copy's .git.
The next command that reaches the server settles it out loud: the commit is
in the server's history (it arrived), or the history has moved on without it
(it can no longer arrive), or SETTLE_AFTER seconds have passed with the
server's branch still where the push started from (a push cut off that long
ago has ended on the server without landing).
"""
from __future__ import annotations

import json
import os
import time

from .. import git as G
from ..gruntlib import protocol as P

SETTLE_AFTER = 120   # seconds


def _path(wc: str) -> str:
    return P.state_file(wc, P.UNSETTLED)


def remember(wc: str, commit: str, parent: str, what: str) -> None:
    """Keep the commit of a push whose outcome is unknown (``what``: its subject)."""
    entry = {"commit": commit, "parent": parent, "what": what, "time": P.now_ts(),
             "unix": int(time.time())}
    with open(_path(wc), "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def _entries(wc: str) -> "list[dict]":
    text = P.read_text(_path(wc)) or ""
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and {"commit", "parent", "what", "time"} <= set(entry):
            out.append(entry)
    return out


def settle(wc: str) -> "list[tuple[dict, bool]]":
    """After a fetch: (entry, arrived) for the entries it settles; the rest are kept."""
    entries = _entries(wc)
    if not entries:
        return []
    tip = G.out("rev-parse", f"origin/{P.BRANCH}", cwd=wc)
    settled, kept = [], []
    for e in entries:
        if G.ok("merge-base", "--is-ancestor", e["commit"], tip, cwd=wc):
            settled.append((e, True))
        elif tip != e["parent"] or time.time() - e.get("unix", 0) > SETTLE_AFTER:
            settled.append((e, False))
        else:
            kept.append(e)
    if kept:
        P.write_atomic(_path(wc), "".join(json.dumps(e) + "\n" for e in kept))
    else:
        os.unlink(_path(wc))
    return settled
