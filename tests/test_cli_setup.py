"""newproj (server and client side), newproj-server, server."""
import os
import pty
import select
import stat
import subprocess

from fixture_core import GRUNT, SERVER, git


def tree(path):
    return sorted(git("ls-tree", "-r", "--name-only", "HEAD", cwd=path).split())


def test_newproj_server_side(core):
    r = core.grunt("newproj", "p", home=core.srv).ok()
    assert r.out == f"project p created on {SERVER} ({core.srv}/grunt/bb/{SERVER}/p)\n"
    for kind in ("jobs", "results"):
        bare = core.bare("p", kind)
        assert stat.S_IMODE(os.stat(bare).st_mode) == 0o700
        assert git("config", "receive.denyNonFastForwards", cwd=bare).strip() == "true"
        wc = core.swc("p", kind)
        assert tree(wc) == ["active/.keep", "archive/.keep", "delete/.keep"]
        assert git("rev-parse", "HEAD", cwd=wc) == git("rev-parse", "main", cwd=bare)
    hook = os.path.join(core.bare("p"), "hooks", "post-receive")
    assert os.access(hook, os.X_OK) and "grund.fifo" in core.read(hook)
    # again: nothing changes, and it says so
    head = git("rev-parse", "HEAD", cwd=core.bare("p"))
    r = core.grunt("newproj", "p", home=core.srv).ok()
    assert r.out.startswith("project p already exists on blanca")
    assert git("rev-parse", "HEAD", cwd=core.bare("p")) == head


def test_newproj_completes_a_half_made_project(core):
    core.grunt("newproj", "p", home=core.srv).ok()
    subprocess.run(["rm", "-rf", core.swc("p", "results")], check=True)
    core.grunt("newproj", "p", home=core.srv).ok()
    assert tree(core.swc("p", "results")) == ["active/.keep", "archive/.keep", "delete/.keep"]


def test_newproj_bad_name(core):
    r = core.grunt("newproj", "../x", home=core.srv)
    assert r.rc == 1 and r.err.startswith("grunt: error: invalid project name '../x'")
    assert not os.path.exists(os.path.join(core.srv, "grunt", "bb"))


def test_newproj_without_defserver_and_no_terminal(core):
    os.unlink(os.path.join(core.srv, ".grunt.defserver"))
    p = core.run(GRUNT, "newproj", "p", home=core.srv, timeout=20)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1
    assert p.stderr.startswith("grunt: error: no server name set: create it with echo <name> > ")
    assert ".grunt.defserver" in p.stderr and p.stdout == ""
    assert not os.path.exists(os.path.join(core.srv, "grunt"))


def test_newproj_asks_for_the_server_name_on_a_terminal(core):
    os.unlink(os.path.join(core.srv, ".grunt.defserver"))
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real grunt on a terminal
        os.chdir(core.work)
        os.execve(GRUNT, [GRUNT, "newproj", "p"], core.env(core.srv))
    seen = b""

    def read_until(text):
        nonlocal seen
        while text not in seen:
            ready, _, _ = select.select([fd], [], [], 20)
            assert ready, f"no {text!r} from grunt; got {seen!r}"
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            assert chunk, f"grunt ended before {text!r}; got {seen!r}"
            seen += chunk

    read_until(b"server's name")
    os.write(fd, b"hpc2\n")
    read_until(b"created on hpc2")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert core.read(os.path.join(core.srv, ".grunt.defserver")) == "hpc2\n"
    assert os.path.isdir(os.path.join(core.srv, "grunt", "bb", "hpc2", "p", "jobs.git"))


def test_newproj_client_side(core):
    core.grunt("newproj", "p", home=core.srv).ok()
    r = core.grunt("newproj", "p", core.srv + "/").ok()
    assert r.out == f"project p set up against {SERVER} ({core.srv})\n"
    for kind in ("jobs", "results"):
        wc = core.cwc("p", kind)
        assert tree(wc) == ["active/.keep", "archive/.keep", "delete/.keep"]
        assert git("remote", "get-url", "origin", cwd=wc).strip() == core.bare("p", kind)
    assert core.read(os.path.join(core.cli, "grunt", "wc", SERVER, "p", "remote")) == core.srv + "\n"
    # again: the existing copies are kept and refreshed
    core.grunt("newproj", "p", core.srv).ok()
    assert tree(core.cwc("p")) == ["active/.keep", "archive/.keep", "delete/.keep"]


def test_newproj_client_side_project_missing_on_server(core):
    r = core.grunt("newproj", "q", core.srv)
    assert r.rc == 1 and r.out == ""
    assert r.err == (f"grunt: error: project q does not exist on {SERVER}; "
                     "create it there first: grunt newproj q\n")
    assert not os.path.exists(core.cwc("q"))
    assert not os.path.exists(core.cwc("q") + ".new")
    assert not os.path.exists(os.path.dirname(core.cwc("q")))  # no empty project dir either


def test_newproj_client_side_bad_remote(core):
    for spec in ("bad host", ":x"):
        r = core.grunt("newproj", "p", spec)
        assert r.rc == 2 and r.err == (f"grunt: error: invalid address '{spec}' for server "
                                       "blanca: use [user@]host or an absolute path\n")
        assert not os.path.exists(core.cwc("p"))
    r = core.grunt("newproj", "p", "-oProxyCommand=x")
    assert r.rc == 2 and "unrecognized arguments: -oProxyCommand=x" in r.err


def test_newproj_server_command(core, core_proj):
    r = core.grunt("newproj-server", "q", cwd=core_proj).ok()
    assert r.out == (f"asked grund on {SERVER} to create project q; once it has, run:\n"
                     f"  grunt newproj q {core.srv}\n")
    assert not os.path.exists(core.bare("q"))
    core.grund()
    assert os.path.isdir(core.swc("q", "results"))
    assert "newproj-server q: created" in core.read(
        os.path.join(core.swc("p"), "active", "ali000000", "p", "job.log"))
    core.grunt("newproj", "q", core.srv).ok()
    assert os.path.isdir(os.path.join(core.cwc("q"), ".git"))
    # the control job is not a job the user sees
    assert core.jobs("all", cwd=core_proj) == {}
    # and the new project works
    q = core.project("q")
    jid = core.submit("x", cwd=q)
    core.grund()
    assert core.jobs(cwd=q)[jid]["status"] == "Done"


def test_newproj_server_bad_name(core, core_proj):
    r = core.grunt("newproj-server", "a b", cwd=core_proj)
    assert r.rc == 1 and "invalid project name 'a b'" in r.err


def test_server_show_and_set(core, core_proj):
    assert core.grunt("server", cwd=core_proj).ok().out == "blanca\n"
    r = core.grunt("server", "alpine", cwd=core_proj).ok()
    assert r.out == "project p now uses server alpine\n"
    assert r.err == "grunt: warning: not set up for alpine yet: run grunt newproj p <remote>\n"
    assert core.read(os.path.join(core_proj, "grunt.server")) == "alpine\n"
    assert core.grunt("server", cwd=core_proj).ok().out == "alpine\n"
    r = core.grunt("jobs", cwd=core_proj)
    assert r.rc == 1 and "project p is not set up for server alpine" in r.err
    r = core.grunt("server", "bad/name", cwd=core_proj)
    assert r.rc == 1 and "invalid server name 'bad/name'" in r.err


def test_newproj_of_another_project_inside_a_checkout_warns(core, core_proj):
    core.grunt("newproj", "other", home=core.srv).ok()
    r = core.grunt("newproj", "other", core.srv, cwd=core_proj).ok()
    assert r.err == ("grunt: warning: this checkout is project p, not other: grunt commands here "
                     f"work on p (set it up with grunt newproj p {core.srv}, or name the checkout's "
                     "project in a grunt.projname file)\n")
    assert core.grunt("newproj", "p", core.srv, cwd=core_proj).ok().err == ""


def test_newproj_when_the_server_calls_itself_otherwise(core):
    core.write(os.path.join(core.srv, ".grunt.defserver"), "flow\n")
    core.grunt("newproj", "p", home=core.srv).ok()
    core.grunt("newproj", "q", home=core.srv).ok()
    r = core.grunt("newproj", "p", core.srv)
    assert (r.rc, r.out) == (1, "")
    assert r.err == (f"grunt: error: project p is on that server under the server name flow, but "
                     f"this laptop calls the server {SERVER}: both sides must use the same name "
                     "(echo flow > ~/.grunt.defserver here, or grunt server flow in this "
                     f"checkout), then grunt newproj p {core.srv} again\n")
    r = core.grunt("newproj", "z", core.srv)
    assert r.rc == 1 and "that server knows only the server name(s) flow:" in r.err


def test_newproj_server_of_a_project_that_exists(core, core_proj):
    r = core.grunt("newproj-server", "p", cwd=core_proj).ok()
    assert r.out == (f"project p already exists on {SERVER}; set it up here with:\n"
                     f"  grunt newproj p {core.srv}\n")
    assert not os.path.exists(os.path.join(core.cwc("p"), "active", "ali000000"))
