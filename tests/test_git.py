"""lib/git.py: the one git wrapper."""
from lib import git as G


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
