"""make demo, the README's first command, runs the loop and touches nothing of the user's."""
import os
import shutil
import subprocess

import pytest

from fixture_core import ROOT

pytestmark = pytest.mark.system   # the whole loop with the executables


def _tree(top: str) -> dict:
    """{path: (size, mtime, content)} of every file below top."""
    out = {}
    for d, _, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            st = os.lstat(p)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, top)] = (st.st_size, st.st_mtime_ns, fh.read())
    return out


def test_make_demo_leaves_the_users_home_alone_on_any_git(tmp_path):
    home = tmp_path / "user-home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Someone\n\temail = someone@example.org\n")
    before = _tree(str(home))
    # a git older than 2.32: it does not know GIT_CONFIG_GLOBAL
    shim = tmp_path / "oldgit"
    shim.mkdir()
    (shim / "git").write_text(f'#!/bin/sh\nunset GIT_CONFIG_GLOBAL\nexec {shutil.which("git")} "$@"\n')
    (shim / "git").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(home), PATH=f"{shim}:{env['PATH']}")
    p = subprocess.run(["make", "-s", "demo"], cwd=ROOT, env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "demo done: the loop works on this machine." in p.stdout
    assert _tree(str(home)) == before
