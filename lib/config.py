"""Where things live: the ~/grunt layout, the server name, the project name.

Server home::

    ~/.grunt.defserver                     this server's name
    ~/grunt/bb/<server>/<proj>/jobs.git    bare repos the clients push to
    ~/grunt/bb/<server>/<proj>/results.git
    ~/grunt/srv/<server>/                  grund's root: grund.lock, grund.children,
                                           grund.fifo, grund.log, runtime/
    ~/grunt/srv/<server>/<proj>/jobs       grund's working copies; jobs run in here
    ~/grunt/srv/<server>/<proj>/results

Client home::

    ~/.grunt.defserver                     the default server
    ~/.grunt.prefix                        optional: the 3-letter job id prefix
    ~/grunt/wc/<server>/<proj>/jobs        the client's working copies
    ~/grunt/wc/<server>/<proj>/results
    ~/grunt/wc/<server>/<proj>/remote      the remote spec: [user@]host or /abs/home
    ~/grunt/wc/<server>/<proj>/lock        one grunt command at a time per project
    ~/grunt/ro/<server>/<owner>/<proj>/    read-only copies of another user's project

This module is the only one that knows these paths.  Paths "relative" are
relative to a home, for commands the client runs on the server.
"""
import getpass
import os
import re
import sys

from .gruntlib import protocol
from .errors import GruntError

SERVER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def home() -> str:
    return os.path.expanduser("~")


def grunt_dir() -> str:
    return os.path.join(home(), "grunt")


PRIVATE_MODE = 0o700


def private(path: str) -> str:
    """Make ``path`` a directory only the user can enter, creating it (and any
    missing parents) as such.

    The one place that decides who may read grunt's files: ~/grunt and every
    repository are created 0700 on the client and the server.  Directories
    that already existed above ``path`` keep their mode.
    """
    missing = []
    d = os.path.abspath(path)
    while not os.path.isdir(d) and os.path.dirname(d) != d:
        missing.append(d)
        d = os.path.dirname(d)
    os.makedirs(path, mode=PRIVATE_MODE, exist_ok=True)
    for d in [os.path.abspath(path), *missing]:
        os.chmod(d, PRIVATE_MODE)
    return path


KINDS = ("jobs", "results")   # the two repositories of a project


# ---------------------------------------------------------------- the server's home
BARE_RELPATH = "grunt/bb"   # the bare repos, below the server's home: <server>/<proj>/<kind>.git


def bare_relpath(server: str, proj: str, kind: str) -> str:
    """A bare repo's path relative to the server's home (kind: jobs|results)."""
    return f"{BARE_RELPATH}/{server}/{proj}/{kind}.git"


def bare_path(server: str, proj: str, kind: str) -> str:
    return os.path.join(home(), bare_relpath(server, proj, kind))


def projects_dir(server: str) -> str:
    """Where the bare repos of every project of ``server`` are."""
    return os.path.join(grunt_dir(), "bb", server)


def ways_down(server: str) -> "list[str]":
    """The directories leading to the bare repos of ``server``: ~/grunt, ~/grunt/bb,
    ~/grunt/bb/<server> (sharing lets a group pass through them)."""
    return [grunt_dir(), os.path.join(grunt_dir(), "bb"), projects_dir(server)]


def server_root(server: str) -> str:
    """grund's directory: its lock, FIFO, log, runtime and working copies."""
    return os.path.join(grunt_dir(), "srv", server)


def wc_relpath(server: str, proj: str, kind: str) -> str:
    """grund's working copy, relative to the server's home."""
    return f"grunt/srv/{server}/{proj}/{kind}"


def wc_path(server: str, proj: str, kind: str) -> str:
    """grund's working copy of a project's repository; jobs run in the jobs one."""
    return os.path.join(home(), wc_relpath(server, proj, kind))


def runtime_relpath(server: str) -> str:
    """Where grund installs gruntlib, relative to the server's home."""
    return f"grunt/srv/{server}/runtime"


def runtime_dir(server: str) -> str:
    return os.path.join(home(), runtime_relpath(server))


def grund_file(server: str, name: str) -> str:
    """grund.lock, grund.children, grund.fifo, grund.log in grund's directory."""
    return os.path.join(server_root(server), name)


# ---------------------------------------------------------------- the client's home
def hook_path(server: str) -> str:
    """The user's end hook, run by grund when a job ends (server/hooks.py)."""
    return os.path.join(server_root(server), "hooks", "job-end")


def client_proj_dir(server: str, proj: str) -> str:
    """The client's copies of a project: jobs, results, remote, lock."""
    return os.path.join(grunt_dir(), "wc", server, proj)


def client_server_dir(server: str) -> str:
    return os.path.join(grunt_dir(), "wc", server)


def readonly_dir(server: str, owner: str, proj: str) -> str:
    """The read-only copies of ``owner``'s project."""
    return os.path.join(grunt_dir(), "ro", server, owner, proj)


def check_name(kind: str, name: str) -> str:
    pattern = SERVER_RE if kind == "server" else protocol.PROJ_RE
    if not pattern.match(name) or name in (".", ".."):
        raise GruntError(f"invalid {kind} name '{name}': use letters, digits, '.', '_' and '-'")
    return name


def defserver_path() -> str:
    return os.path.join(home(), ".grunt.defserver")


def read_first_line(path: str) -> "str | None":
    text = protocol.read_text(path)
    if text is None:
        return None
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line or None


def default_server(ask: bool = False) -> str:
    """The server name from ~/.grunt.defserver.

    With ``ask`` and a terminal, a missing file is created after asking; with no
    terminal the error says how to set it (it never waits for input).
    """
    path = defserver_path()
    name = read_first_line(path)
    if name:
        return check_name("server", name)
    how = f"echo <name> > {path}  (the server's name, e.g. the cluster's)"
    if not ask or not sys.stdin.isatty():
        raise GruntError(f"no server name set: create it with {how}")
    try:
        name = input("This server's name (saved in ~/.grunt.defserver): ").strip()
    except EOFError:
        name = ""
    if not name:
        raise GruntError(f"no server name given: create it with {how}")
    check_name("server", name)
    protocol.write_atomic(path, name + "\n")
    return name


def project_server(projdir: str) -> str:
    """The project's server: a ``grunt.server`` file in the project, else the default."""
    name = read_first_line(os.path.join(projdir, "grunt.server"))
    return check_name("server", name) if name else default_server()


def project_name(projdir: str) -> str:
    """The project's name: ``grunt.projname``/``grunt.projnm`` file, else the directory name."""
    for f in ("grunt.projname", "grunt.projnm"):
        name = read_first_line(os.path.join(projdir, f))
        if name:
            return check_name("project", name)
    return check_name("project", os.path.basename(os.path.abspath(projdir)))


def prefix() -> str:
    """The user's 3-letter job id prefix: ~/.grunt.prefix, else from the login name."""
    text = read_first_line(os.path.join(home(), ".grunt.prefix"))
    if text:
        if not re.fullmatch(r"[a-z]{3}", text):
            raise GruntError(f"~/.grunt.prefix must hold three lowercase letters, not '{text}'")
        return text
    letters = re.sub(r"[^a-z]", "", getpass.getuser().lower())
    return (letters + "xxx")[:3]
