"""grunt at a terminal: tmux gives the commands a real tty.

Checked there: status colours (and NO_COLOR), the table fitting the width,
the pager for out and diff, `out -f` following a running job, the progress
line.  Without a tty none of it happens (in-process checks).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid

import pytest

from fixture_core import GRUND, GRUNT, wait_for


class Tmux:
    """A private tmux server (own socket); each command runs in a new session."""

    def __init__(self, tmp: str):
        self.sock = os.path.join(tmp, f"tmux-{uuid.uuid4().hex[:8]}")
        self.n = 0

    def tmux(self, *argv: str) -> str:
        return subprocess.run(["tmux", "-S", self.sock, *argv], check=True, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL).stdout

    def start(self, cmd: str, cwd: str, env: dict[str, str] | None = None, width: int = 160) -> str:
        """Run the shell command ``cmd`` at a terminal; it prints EXIT=<rc> at the end."""
        self.n += 1
        name = f"s{self.n}"
        sets = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        script = f"cd {shlex.quote(cwd)} && {sets + ' ' if sets else ''}{cmd}; echo EXIT=$?; sleep 600"
        self.tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", "40", "sh", "-c", script)
        return name

    def screen(self, name: str, escapes: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", name)

    def wait(self, name: str, text: str, timeout: float = 20, escapes: bool = False) -> str:
        return wait_for(lambda: (lambda s: s if text in s else "")(self.screen(name, escapes)),
                        timeout=timeout, what=f"{text!r} on the terminal", interval=0.05)

    def run(self, cmd: str, cwd: str, env: dict[str, str] | None = None, escapes: bool = False,
            width: int = 160) -> str:
        """The screen once ``cmd`` has finished (with EXIT=0)."""
        name = self.start(cmd, cwd, env, width)
        screen = self.wait(name, "EXIT=", escapes=escapes)
        assert "EXIT=0" in screen, screen
        return screen

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)


@pytest.fixture
def tty(core):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    t = Tmux(core.tmp)
    yield t
    t.close()


def _done_job(core, proj: str, *args: str, m: str = "a message") -> str:
    jid = core.submit(*args, m=m, cwd=proj)
    core.grund()
    return jid


def test_status_colours_only_on_a_tty_and_not_with_no_color(core, core_proj, tty):
    _done_job(core, core_proj)
    screen = tty.run(f"{GRUNT} jobs", core_proj, escapes=True)
    assert "\x1b[32mDone" in screen
    screen = tty.run(f"{GRUNT} jobs", core_proj, env={"NO_COLOR": "1"}, escapes=True)
    assert " Done " in screen and "\x1b[32m" not in screen
    assert "\x1b[" not in core.grunt("jobs", cwd=core_proj).ok().out   # a pipe


def test_jobs_table_fits_the_terminal(core, core_proj, tty):
    _done_job(core, core_proj, "--alpha", "1", "--beta", "2", m="a long message " * 8)
    wide = core.grunt("jobs", cwd=core_proj).ok().out   # not a tty: nothing is cut
    assert "a long message " * 7 in wide and len(wide.splitlines()[1]) > 150
    screen = tty.run(f"{GRUNT} jobs", core_proj, width=90)
    rows = [ln for ln in screen.splitlines() if ln.startswith(("ID", "ali"))]
    assert len(rows) == 2 and all(len(r) <= 90 for r in rows)
    assert "Done" in rows[1] and rows[1].rstrip().endswith(("\u2026", "~"))
    # at 80 columns the message stays (no SERVER: every job has the same; the run time
    # instead of START and END)
    screen = tty.run(f"{GRUNT} jobs", core_proj, width=80)
    rows = [ln for ln in screen.splitlines() if ln.startswith(("ID", "ali"))]
    head = rows[0].split()
    assert head[0] == "ID" and head[2:] == ["STATUS", "SUBMIT", "TIME", "ARGS", "MESSAGE"]
    assert "a long message" in rows[1] and all(len(r) <= 80 for r in rows)
    # $COLUMNS counts too, at a tty or not
    core.mp.setenv("COLUMNS", "70")
    assert max(map(len, core.grunt("jobs", cwd=core_proj).ok().out.splitlines())) <= 70


def test_out_and_diff_go_through_the_pager_on_a_tty(core, core_proj, tty):
    jid = _done_job(core, core_proj, "7")
    with open(os.path.join(core_proj, "run.sh"), "a") as f:
        f.write("echo changed\n")
    paged = {"GRUNT_PAGER": "sed s/^/PAGED:/", "PAGER": "sed s/^/OTHER:/"}
    assert "PAGED:args: 7" in tty.run(f"{GRUNT} out {jid}", core_proj, env=paged)
    assert "PAGED:+echo changed" in tty.run(f"{GRUNT} diff {jid}", core_proj, env=paged)
    assert "OTHER:args: 7" in tty.run(f"{GRUNT} out {jid}", core_proj,
                                      env={"PAGER": "sed s/^/OTHER:/"})
    # the default, less -FRX, shows one screen and quits by itself
    screen = tty.run(f"env -u PAGER -u GRUNT_PAGER {GRUNT} out {jid}", core_proj)
    assert "args: 7" in screen
    # not a tty: no pager
    core.mp.setenv("GRUNT_PAGER", "sed s/^/PAGED:/")
    assert core.grunt("out", jid, cwd=core_proj).ok().out == "args: 7\n"


def test_out_f_follows_a_running_job_until_it_ends(core, tty):
    run_sh = ("echo first line\n"
              "while [ ! -e release ]; do sleep 0.05; done\n"
              "echo second line\n")
    proj = core.project("p", grunter="async", run_sh=run_sh)
    core.newproj("p")
    core.start(GRUND, "--interval", "0.2")
    jid = core.submit(m="slow", cwd=proj)
    job = core.sjob(jid)
    wait_for(lambda: os.path.exists(os.path.join(job, "job.pid")), what="the job to be submitted")
    open(os.path.join(job, "go"), "w").close()
    name = tty.start(f"{GRUNT} out -f {jid}", proj)
    screen = tty.wait(name, "first line")
    time.sleep(0.5)
    assert "second line" not in tty.screen(name) and "EXIT=" not in tty.screen(name)
    open(os.path.join(job, "release"), "w").close()
    screen = tty.wait(name, "EXIT=")
    assert screen.index("first line") < screen.index("second line") < screen.index("EXIT=0")


def test_progress_line_on_a_tty_during_a_slow_pull(core, core_proj, tty):
    _done_job(core, core_proj)
    slow = os.path.join(core.tmp, "slowbin")
    os.makedirs(slow)
    real = shutil.which("git")
    with open(os.path.join(slow, "git"), "w") as f:
        f.write(f'#!/bin/sh\ncase " $* " in *" fetch "*) sleep 1;; esac\nexec {real} "$@"\n')
    os.chmod(os.path.join(slow, "git"), 0o755)
    env = {"PATH": f"{slow}:{os.environ['PATH']}"}
    name = tty.start(f"{GRUNT} pull", core_proj, env=env)
    assert "pull: fetching the jobs of p from blanca" in tty.wait(name, "pull: fetching")
    screen = tty.wait(name, "EXIT=0")
    assert "pulled p from blanca: 1 job(s)" in screen and "pull: fetching" not in screen
    # not a tty: no progress line
    core.mp.setenv("GRUNT_PROGRESS_DELAY", "0")
    assert core.grunt("pull", cwd=core_proj).ok().err == ""




def test_zsh_completes_commands_and_job_ids(core, core_proj, tty):
    """The zsh completion that make install puts beside the bash one."""
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    jid = _done_job(core, core_proj)
    root = os.path.dirname(GRUNT)
    zdot = os.path.join(core.tmp, "zdot")
    os.makedirs(os.path.join(zdot, "fn"))
    shutil.copyfile(os.path.join(root, "grunt.zsh-completion"), os.path.join(zdot, "fn", "_grunt"))
    with open(os.path.join(zdot, ".zshrc"), "w") as f:
        f.write(f"fpath=({shlex.quote(os.path.join(zdot, 'fn'))} $fpath)\n"
                f"PATH={shlex.quote(root)}:$PATH\nautoload -Uz compinit && compinit -u\nPS1='zsh> '\n")
    name = tty.start("zsh -i", core_proj, env={"ZDOTDIR": zdot})
    tty.wait(name, "zsh>")   # (the screen is read without trailing blanks)
    tty.tmux("send-keys", "-t", name, "C-u", "grunt sho", "Tab")
    tty.wait(name, "zsh> grunt show")
    tty.tmux("send-keys", "-t", name, "Tab")   # the ids, from the local copy
    tty.wait(name, f"zsh> grunt show {jid}")
