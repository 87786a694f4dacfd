"""grund's heartbeat: when it was last seen, its version and its pending work.

grund keeps one ref, ``refs/grunt/heartbeat``, in each project's bare jobs
repo, pointing at a small JSON blob (no commit: a heartbeat adds no history,
and it does not touch ``refs/heads/main``, so it wakes no one).  The client
fetches ``refs/grunt/*`` along with the branch in the fetch it makes anyway,
so reading the heartbeat costs no extra ssh login.

The blob holds ``time`` (UTC, like job timestamps), ``unix``, ``version``,
``pid``, ``host``, ``cursor`` (the last commit grund has fully processed),
``pending`` (commands it is working through), ``unfinished`` (jobs it still
watches) and ``results`` (the tip of the bare results repo as grund last pushed
it: a client whose results copy is there already need not fetch it).  From
``cursor`` the client counts the commands pushed since, which is the pending
work even when grund is down.
"""
import hashlib
import json
import os
import stat
import tempfile
import time
import zlib

from . import git as G
from .gruntlib import protocol as P

REF = P.HEARTBEAT_REF
# the client's fetch: the branch as usual, and grund's refs (a glob, so a
# server without a heartbeat yet is no error)
FETCH_REFSPECS = ("+refs/heads/*:refs/remotes/origin/*", "+refs/grunt/*:refs/grunt/*")
EVERY = 300     # seconds between heartbeats of an idle grund (STALE is two missed)
STALE = 600     # seconds: `grunt jobs` warns when grund was not seen for longer


def write(bare: str, data: dict, previous: "list[str]") -> None:
    """Point REF at a new blob holding ``data``; no git process.

    An idle grund beats for every project every minute, so the blob and the
    ref are written the way git writes them (a zlib-compressed loose object,
    a ref file renamed from its ``.lock``), with the modes of the folders they
    land in (a shared project's group can read them).  ``previous`` lists the
    blobs written before (by this grund); the one before last is removed, so
    heartbeats leave no trail of loose objects.  (Only that one: a client that
    was just told about the last one may still be fetching it.)  Nothing else
    refers to them: each holds its own time.
    """
    body = (json.dumps(data, sort_keys=True) + "\n").encode()
    obj = b"blob %d\0" % len(body) + body
    blob = hashlib.sha1(obj).hexdigest()
    if previous and previous[-1] == blob:
        return
    path = os.path.join(bare, "objects", blob[:2], blob[2:])
    if not os.path.exists(path):
        # through git's own temporary name: one left by a kill -9 is no
        # "bad sha1 file" to git fsck, and git gc removes it
        _write_like(path, zlib.compress(obj), 0o444, tmp_prefix="tmp_obj_")
    _write_like(os.path.join(bare, *REF.split("/")), (blob + "\n").encode(), 0o644)
    previous.append(blob)
    while len(previous) > 2:
        old = previous.pop(0)
        try:
            os.unlink(os.path.join(bare, "objects", old[:2], old[2:]))
        except OSError:  # packed meanwhile by git gc: it prunes it in time
            pass


def _write_like(path: str, data: bytes, mode: int, tmp_prefix: str = "") -> None:
    """Write ``path`` atomically (through ``<path>.lock``, or a new file named
    ``<tmp_prefix>XXXXXX`` beside it, as git does); a new folder gets its
    parent's mode; the file ``mode`` is cut to its folder's read bits (plus
    the owner's write)."""
    d = os.path.dirname(path)
    if not os.path.isdir(d):
        parent = os.stat(os.path.dirname(d)).st_mode
        os.makedirs(d, exist_ok=True)
        os.chmod(d, stat.S_IMODE(parent))
    if tmp_prefix:
        fd, tmp = tempfile.mkstemp(prefix=tmp_prefix, dir=d)
    else:
        tmp = path + ".lock"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    with open(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode & (stat.S_IMODE(os.stat(d).st_mode) & 0o444 | 0o200))
    os.replace(tmp, path)


def read_own(bare: str) -> "tuple[str, dict] | None":
    """(blob, data) of the heartbeat in ``bare`` as write() left it, read by hand; None
    when there is none, or it is not a loose object and ref (git gc packed it)."""
    try:
        with open(os.path.join(bare, *REF.split("/")), "rb") as f:
            blob = f.read().decode("ascii").strip()
        with open(os.path.join(bare, "objects", blob[:2], blob[2:]), "rb") as f:
            obj = zlib.decompress(f.read())
        head, body = obj.split(b"\0", 1)
        data = json.loads(body.decode("utf-8")) if head == b"blob %d" % len(body) else None
    except (OSError, ValueError, zlib.error):
        return None
    return (blob, data) if isinstance(data, dict) else None


def read(wc: str) -> "dict | None":
    """The heartbeat the last fetch brought into working copy ``wc``, or None."""
    own = read_own(os.path.join(wc, ".git"))   # a loose object, as a small fetch leaves it
    if own is not None:
        return own[1]
    raw = G.git("cat-file", "blob", REF, cwd=wc, check=False)
    try:
        data = json.loads(raw.decode("utf-8", "replace")) if raw.strip() else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def age(data: dict, now: "float | None" = None) -> float:
    """Seconds since the heartbeat was written (0 for a clock ahead of ours)."""
    try:
        return max(0.0, (time.time() if now is None else now) - float(data.get("unix", 0)))
    except (TypeError, ValueError):
        return float("inf")


def describe_age(seconds: float) -> str:
    if seconds == float("inf"):
        return "at an unknown time"
    s = int(seconds)
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    if s < 172800:
        return f"{s // 3600} h ago"
    return f"{s // 86400} days ago"
