"""Where a job's code came from: recorded by ``grunt submit``, shown by ``grunt show``.

Four job files, written by the client in the submit commit itself::

    job.source      commit <sha> / branch <name> / remote <url>, one per line,
                    or the single line "not a commit" (a checkout without commits)
    job.dirty       "dirty" or "clean": did shipped tracked files differ from the commit
    job.patch       git diff --binary of those differences (empty when clean)
    job.untracked   untracked files that were not shipped, one per line
"""
from __future__ import annotations

import os
import re

from .. import git as G
from ..gruntlib import protocol as P

NOT_A_COMMIT = "not a commit"
DETACHED = "(detached)"


def _remote_url(top: str, branch: str) -> str:
    """The URL of the branch's upstream remote, else origin, else the first remote."""
    # one read of the config: the remotes (git remote lists the names of remote.<name>.*
    # keys, sorted) and the branch's; keys come lowercased but for the <name>
    raw = G.git("config", "-z", "--get-regexp", r"^(remote|branch)\.", cwd=top, check=False)
    conf = {}   # type: dict[str, str]
    for item in raw.decode("utf-8", "surrogateescape").split("\0"):
        key, _, value = item.partition("\n")
        conf[key] = value   # the last one wins, as with git config --get
    names = sorted({k[len("remote."):k.rindex(".")] for k in conf
                    if k.startswith("remote.") and k.count(".") >= 2})
    want = conf.get(f"branch.{branch}.remote", "")
    for name in (want, "origin", *names):
        if name and name in names:
            url = conf.get(f"remote.{name}.url", "")
            # never record a password written into the URL
            return re.sub(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1@", url)
    return ""


def record(top: str, untracked: list[str]) -> dict[str, str]:
    """{job file name: content} describing the checkout ``top`` as it is shipped now."""
    head = G.git("rev-parse", "-q", "--verify", "HEAD^{commit}", cwd=top, check=False).decode().strip()
    files = {P.UNTRACKED: "".join(u + "\n" for u in untracked)}
    if not head:
        files.update({P.SOURCE: NOT_A_COMMIT + "\n", P.DIRTY: "dirty\n", P.PATCH: ""})
        return files
    branch = G.git("symbolic-ref", "-q", "--short", "HEAD", cwd=top, check=False).decode().strip()
    lines = [f"commit {head}", f"branch {branch or DETACHED}"]
    url = _remote_url(top, branch)
    if url:
        lines.append(f"remote {url}")
    # the working tree against the commit: exactly what the snapshot holds
    # beyond it (deleted tracked files are not shipped either)
    patch = G.git("-c", "core.quotePath=false", "diff", "--binary", "--no-color", "--no-ext-diff",
                  "--no-textconv", "--ignore-submodules", "--src-prefix=a/", "--dst-prefix=b/",
                  "HEAD", "--", cwd=top)
    files.update({P.SOURCE: "\n".join(lines) + "\n", P.DIRTY: "dirty\n" if patch else "clean\n",
                  P.PATCH: patch.decode("utf-8", "surrogateescape")})
    return files


def parse_source(text: str | None) -> dict[str, str]:
    """job.source -> {"commit":, "branch":, "remote":}; {} for "not a commit" or none."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        if key in ("commit", "branch", "remote") and value:
            out[key] = value.strip()
    return out


def patch_files(patch: str) -> list[str]:
    """Paths a patch touches, from its ``diff --git a/X b/X`` lines."""
    out = []
    for line in patch.splitlines():
        m = re.match(r"^diff --git a/(.*) b/(.*)$", line)
        if m and m.group(2) not in out:
            out.append(m.group(2))
    return out


def describe(jobdir: str) -> list[tuple[str, str]]:
    """(label, text) lines about a job's provenance, for ``grunt show``."""
    src = P.read_text(os.path.join(jobdir, P.SOURCE))
    if src is None:
        return [("source", "(not recorded)")]
    rows = []
    info = parse_source(src)
    if not info:
        rows.append(("source", NOT_A_COMMIT))
    else:
        rows.append(("source", f"{info.get('commit', '?')} on {info.get('branch', '?')}"))
        rows.append(("remote", info.get("remote", "(none)")))
    dirty = (P.read_text(os.path.join(jobdir, P.DIRTY)) or "").strip()
    changed = patch_files(P.read_text(os.path.join(jobdir, P.PATCH)) or "")
    if dirty == "dirty" and changed:
        rows.append(("dirty", f"yes, {P.PATCH} changes {len(changed)} file(s): " + ", ".join(changed)))
    else:
        rows.append(("dirty", "yes" if dirty == "dirty" else "no"))
    untracked = (P.read_text(os.path.join(jobdir, P.UNTRACKED)) or "").splitlines()
    rows.append(("not shipped", ", ".join(untracked) + " (untracked)" if untracked else "(nothing)"))
    return rows
