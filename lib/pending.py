"""The commands pushed to a project that grund has not processed yet.

grund's work list is the ``grcmd.*`` paths that the commits after its cursor
add or change, leaving out grund's own commits; the client counts the same
list (from the cursor in grund's heartbeat) as the work grund has not done,
which stays true when grund is down.
"""
from . import git as G
from .gruntlib import protocol as P


def pending_commands(wc: str, start: "str | None", server: str, proj: str,
                     tip: str = "origin/" + P.BRANCH) -> "list[tuple[str, str]]":
    """(commit, grcmd path) of the commands for ``proj`` in ``start..tip`` that grund
    of ``server`` did not make itself, oldest first (all up to ``tip`` without a start)."""
    me = P.grund_email(server)
    rng = [f"{start}..{tip}"] if start else [tip]
    raw = G.git("log", "-z", "--reverse", "--no-merges", "--no-renames",
                "--format=%x01%H %ae", "--name-only", "--diff-filter=AM", *rng, cwd=wc)
    work = []  # type: list[tuple[str, str]]
    commit, skip = "", True
    for tok in raw.decode("utf-8", "surrogateescape").split("\0"):
        tok = tok.lstrip("\n")
        if tok.startswith("\x01"):
            commit, email = tok[1:].split(" ", 1)
            skip = email == me
        elif tok and not skip:
            cmd = P.parse_command(tok)
            if cmd and cmd[0].proj == proj:
                work.append((commit, tok))
    return work
