"""Small pieces of lib/: git errors, names and prefixes, tables, atomic writes."""
import io
import os

import pytest

from lib import cli, config, git as G, protocol as P, term
from lib.errors import GruntError


def test_git_error_names_the_subcommand():
    e = G.GitError(["git", "-c", "commit.gpgsign=false", "-C", "/x", "commit", "-q"], 1, b"",
                   b"\nfatal: something broke\nmore\n")
    assert str(e) == "git commit failed: fatal: something broke"
    assert str(G.GitError(["git", "push"], 128, b"", b"")) == "git push failed (exit 128)"


def test_git_env_drops_hook_variables(monkeypatch):
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    monkeypatch.setenv("GIT_INDEX_FILE", "/elsewhere/index")
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -v")
    env = G.git_env()
    assert "GIT_DIR" not in env and "GIT_INDEX_FILE" not in env
    assert env["GIT_SSH_COMMAND"] == "ssh -v" and env["GIT_TERMINAL_PROMPT"] == "0"


@pytest.mark.parametrize("login, prefix", [("alice", "ali"), ("Bob-2", "bob"), ("jo", "jox"),
                                           ("x_9.y", "xyx")])
def test_prefix_from_login(monkeypatch, login, prefix):
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(var, login)
    assert config.prefix() == prefix


def test_project_name_and_server(tmp_path):
    top = tmp_path / "my-proj"
    top.mkdir()
    assert config.project_name(str(top)) == "my-proj"
    (top / "grunt.projnm").write_text("short\n")
    assert config.project_name(str(top)) == "short"
    (top / "grunt.projname").write_text("long\n")
    assert config.project_name(str(top)) == "long"
    (top / "grunt.projname").write_text("bad name\n")
    with pytest.raises(GruntError, match="invalid project name 'bad name'"):
        config.project_name(str(top))
    (top / "grunt.server").write_text("\n  alpine  \n")
    assert config.project_server(str(top)) == "alpine"


def test_table_and_colour(monkeypatch):
    out = term.table(["ID", "STATUS", "MSG"], [["a1", "Done", "x y"], ["b", "Failed (2)", "z"]],
                     colour_col=1)
    assert out == "ID  STATUS      MSG\na1  Done        x y\nb   Failed (2)  z"

    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr("sys.stdout", Tty())
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert term.colour_state("Done") == "\033[32mDone\033[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert term.colour_state("Done") == "Done"


def test_write_atomic_and_timestamps(tmp_path):
    tmp_path = tmp_path / "d"
    tmp_path.mkdir()
    path = str(tmp_path / "f")
    P.write_atomic(path, "one\n")
    P.write_atomic(path, b"two\n", mode=0o600)
    assert P.read_text(path) == "two\n" and os.stat(path).st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["f"]
    assert P.read_text(str(tmp_path / "missing")) is None
    ts = P.now_ts()
    assert P.parse_ts(ts).strftime(P.TS_FORMAT) == ts
    assert P.parse_ts("2026-01-02 03:04:05") is None


def test_interrupt_and_version(core, monkeypatch):
    def interrupted(argv):
        raise KeyboardInterrupt
    monkeypatch.setitem(cli.COMMANDS, "jobs", interrupted)
    r = core.grunt("jobs")
    assert (r.rc, r.err) == (130, "grunt: interrupted\n")
    from lib import __version__
    assert core.grunt("--version").ok().out == f"grunt {__version__}\n"
