"""Setting up: newproj (server or client side), newproj-server, init, server, share."""
from __future__ import annotations

import contextlib
import getpass
import os
import shutil
from argparse import Namespace

from .. import config, runtime
from ..client import links, publish
from ..client.project import Project, find_projdir, set_up
from ..client.remote import Remote
from ..client.shared import SharedProject, open_project
from ..errors import GruntError, UsageError
from ..gruntlib import protocol as P
from ..server import repos, share
from .common import Parser, say, user, warn


def newproj_args(p: Parser) -> None:
    p.add_argument("proj")
    p.add_argument("remote", nargs="?")
    p.add_argument("--user", type=user)


def newproj(a: Namespace) -> int:
    config.check_name("project", a.proj)
    if a.user is not None:
        return _shared_newproj(a.proj, a.remote, a.user)
    if a.remote is None:
        server = config.default_server(ask=True)
        existed = repos.create_project(server, a.proj)
        say(f"project {a.proj} {'already exists' if existed else 'created'} on {server} "
            f"({os.path.dirname(config.bare_path(server, a.proj, 'jobs'))})")
        return 0
    server = config.default_server()
    spec = os.path.normpath(a.remote) if a.remote.startswith("/") else a.remote
    set_up(a.proj, spec, server)
    with contextlib.suppress(GruntError):   # run outside a checkout: nothing to check
        projdir = find_projdir(os.getcwd())
        links.keep_out_of_status(projdir)
        here = config.project_name(projdir)
        if here != a.proj:
            warn(f"this checkout is project {here}, not {a.proj}: grunt commands here work on "
                 f"{here} (set it up with grunt newproj {here} {spec}, or name the checkout's "
                 f"project in a grunt.projname file)")
    say(f"project {a.proj} set up against {server} ({spec})")
    return 0


def _shared_newproj(proj: str, spec: "str | None", owner: str) -> int:
    """A read-only copy of ``owner``'s project ``proj``, reached through ``spec``."""
    if spec is None:
        raise UsageError("newproj --user needs the server's address: grunt newproj <proj> <remote> --user <owner>")
    if spec.startswith("/"):
        spec = os.path.normpath(spec)
    Remote(spec, "?")  # checks the spec before anything is written
    projdir = find_projdir(os.getcwd())
    if config.project_name(projdir) != proj:
        raise UsageError(f"this checkout is project {config.project_name(projdir)}, not {proj}")
    server = config.project_server(projdir)
    base = SharedProject.base_dir(server, owner, proj)
    new = not os.path.isdir(base)
    try:
        with open_project(owner, spec=spec) as pr:
            pr.sync(pr.jobs)
            pr.sync(pr.results)
    except GruntError:
        if new:  # leave no trace of a set-up that failed
            shutil.rmtree(base, ignore_errors=True)
        raise
    say(f"project {proj} of {owner} on {server} set up read-only ({spec})")
    return 0


def newproj_server_args(p: Parser) -> None:
    p.add_argument("proj")


def newproj_server(a: Namespace) -> int:
    config.check_name("project", a.proj)
    with Project.here() as pr:
        pr.sync()
        exists = pr.remote.run(["test", "-d", config.bare_relpath(pr.server, a.proj, "jobs")],
                               check=False, timeout=30)
        if exists.returncode == 0:
            say(f"project {a.proj} already exists on {pr.server}; set it up here with:\n"
                f"  grunt newproj {a.proj} {pr.remote.spec}")
            return 0
        publish.send_control(pr, "newproj-server", a.proj + "\n")
        say(f"asked grund on {pr.server} to create project {a.proj}; once it has, run:\n"
            f"  grunt newproj {a.proj} {pr.remote.spec}")
    return 0


def init_args(p: Parser) -> None:
    p.add_argument("--force", action="store_true")


def init(a: Namespace) -> int:
    projdir = find_projdir(os.getcwd())
    dst = os.path.join(projdir, "grunter.py")
    if os.path.lexists(dst) and not a.force:
        raise GruntError(f"{dst} exists already: edit it, or start over with grunt init --force")
    P.write_atomic(dst, runtime.example_grunter())
    say(f"wrote {dst} from grunter_example.py.  Edit the SETTINGS at its top:\n"
        "  command     the program to run; the job's args are appended (now: sh run.sh)\n"
        "  time, memory, cpus, partition, ...   what to ask the scheduler for\n"
        "  results     result file patterns (empty: every file the job makes)\n"
        "then: git add grunter.py && grunt submit -m 'first run'")
    return 0


def server_args(p: Parser) -> None:
    p.add_argument("name", nargs="?")


def server(a: Namespace) -> int:
    projdir = find_projdir(os.getcwd())
    if a.name is None:
        say(config.project_server(projdir))
        return 0
    config.check_name("server", a.name)
    P.write_atomic(os.path.join(projdir, "grunt.server"), a.name + "\n")
    links.keep_out_of_status(projdir)
    proj = config.project_name(projdir)
    say(f"project {proj} now uses server {a.name}")
    if not os.path.isdir(os.path.join(config.client_proj_dir(a.name, proj), "jobs")):
        warn(f"not set up for {a.name} yet: run grunt newproj {proj} <remote>")
    return 0


def share_args(p: Parser) -> None:
    p.add_argument("proj")
    p.add_argument("group")


def share_cmd(a: Namespace) -> int:
    server_name = config.default_server()
    share.share_project(server_name, a.proj, a.group)
    say(f"project {a.proj} on {server_name} is now readable (not writable) by group {a.group}; "
        f"its members run: grunt jobs --user {getpass.getuser()}")
    return 0
