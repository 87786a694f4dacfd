"""The commits of the jobs and results repositories that touched a job (``grunt log``)."""
from __future__ import annotations

from .. import git as G
from ..gruntlib import protocol as P

LOG_FORMAT = "%ct%x00%cd%x00%h%x00%an%x00%s"


def commits(wc: str, jobid: str) -> "list[tuple[int, str, str, str, str]]":
    """(time, "YYYY-MM-DD HH:MM:SS UTC", short hash, author, subject) of the commits
    touching a job, in any folder it has been in."""
    # oldest first: commits of the same second keep their order (a request above
    # grund's answer), which a sort by time alone would not decide
    raw = G.git("log", "--reverse", "-z", f"--format={LOG_FORMAT}", "--date=format-local:%Y-%m-%d %H:%M:%S UTC",
                "--", *(f"{folder}/{jobid}" for folder in P.FOLDERS), cwd=wc, env={"TZ": "UTC"})
    out = []
    fields = raw.decode("utf-8", "replace").split("\0")
    for i in range(0, len(fields) - 4, 5):
        ct, date, short, author, subject = (f.strip("\n") for f in fields[i:i + 5])
        out.append((int(ct), date, short, author, subject))
    return out
