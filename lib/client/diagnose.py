"""What ssh and git said, as one sentence a user understands, naming the server.

Pure text classification (OpenSSH's and git's words in the C locale; lib/git.py
sets LC_ALL=C), so it can be tested without a server.
"""
from __future__ import annotations

import re


def _first(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, re.MULTILINE)


# (pattern, detail) for "cannot reach <server> (ssh: <detail>)"; detail None =
# the matched text itself.
_UNREACHABLE: list[tuple[str, str | None]] = [
    (r"Could not resolve hostname [^:\s]+", None),
    (r"Connection refused", None),
    (r"No route to host", None),
    (r"Network is unreachable", None),
    (r"timed out", "Connection timed out"),
    # sshd over MaxStartups drops new connections before the handshake
    (r"(?:kex|ssh)_exchange_identification",
     "connection closed during the handshake, the server may be busy"),
    (r"Connection reset by peer", None),
    (r"Can't open user config file \S+", None),
    (r"Connection closed by \S+ port \d+", "connection closed by the server"),
]

# ssh's keep-alives got no answer (ServerAliveInterval x ServerAliveCountMax)
_STALLED = r"Timeout, server \S+ not responding|Connection to \S+ timed out while waiting to read"
# git's and ssh's words for a connection that broke off in the middle of a fetch or push
_BROKE = (r"the remote end hung up unexpectedly|early EOF|bad pack header|expected flush after"
          r"|unexpected disconnect while reading sideband packet|Broken pipe"
          r"|mux_client_\w+: read header failed|index-pack failed|protocol error: bad line length")
# failures that leave no doubt that nothing reached the server's repository: it
# could not be reached, refused the login, or answered with a refusal
_UNSENT = (r"Could not resolve hostname|Connection refused|No route to host|Network is unreachable"
           r"|Permission denied \(|Host key verification failed|REMOTE HOST IDENTIFICATION"
           r"|(?:kex|ssh)_exchange_identification|does not appear to be a git repository"
           r"|command not found|: not found$|Can't open user config file|\[(?:remote )?rejected\]")

# The remote shell's word for a missing program: bash 'bash: line 1: X: command
# not found', dash 'sh: 1: X: not found', zsh 'zsh: command not found: X', and
# for a path 'bash: line 1: /x/y: No such file or directory'.
_NOT_FOUND_RE = (r"^(?:[\w/.-]*sh: (?:line \d+: |\d+: )?([^\s:]+): "
                 r"(?:(?:command )?not found|No such file or directory)"
                 r"|[\w/.-]*sh: command not found: (\S+))$")


def missing_command(stderr: str) -> str | None:
    """Name of the command a remote shell could not find, if that is the failure."""
    m = _first(_NOT_FOUND_RE, stderr)
    return (m.group(1) or m.group(2)) if m else None


def not_installed(name: str, server: str) -> str:
    # git over ssh runs git-upload-pack/git-receive-pack: say "git"
    if name.startswith("git-"):
        name = "git"
    return f"{name} is not installed on {server} (not on the PATH of ssh commands there)"


def explain(stderr: str, server: str, proj: str | None) -> str | None:
    """Turn what ssh/git printed into one sentence naming the server, or None.

    Pure text classification, so it can be tested without a server.  The
    texts are OpenSSH's and git's (C locale; lib.git sets LC_ALL=C).
    """
    s = stderr
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in s:
        m = _first(r"^\s*(ssh-keygen .*-R .*?)\s*$", s)
        fix = f"`{m.group(1)}`" if m else "`ssh-keygen -R <host>`"
        return (f"the host key of {server} has changed (someone may be intercepting the "
                f"connection); if the server was reinstalled, remove the old key with {fix} "
                f"and connect once with ssh to check and accept the new one")
    if _first(r"host key is known for|Host key verification failed", s):
        if "host key is known for" in s:
            return (f"the host key of {server} is unknown; connect once with ssh to check "
                    f"and accept it (ssh: Host key verification failed)")
        return (f"ssh could not verify the host key of {server}; connect once with ssh "
                f"to see why (ssh: Host key verification failed)")
    m = _first(r'Load key "([^"]+)": bad permissions', s)
    if m:
        return (f"ssh ignored your key {m.group(1)} for {server} because other users can "
                f"read it; run chmod 600 {m.group(1)}")
    m = _first(r"Permission denied \(([^)]*)\)", s)
    if m:
        return (f"{server} refused your ssh key (ssh: Permission denied ({m.group(1)})); "
                f"check that your public key is in ~/.ssh/authorized_keys there")
    m = _first(r"^fatal: '([^']*)' does not appear to be a git repository", s)
    if m:
        if proj:
            return (f"project {proj} does not exist on {server}; "
                    f"create it there first: grunt newproj {proj}")
        return f"repository {m.group(1)} does not exist on {server}"
    name = missing_command(s)
    if name:
        return not_installed(name, server)
    if "detected dubious ownership" in s:
        return f"a repository on {server} belongs to another user (git: detected dubious ownership)"
    m = _first(_STALLED, s)
    if m:
        return f"{server} stopped answering (ssh: {m.group(0)})"
    m = _first(r"Unable to create '([^']*/)?([^'/]+\.lock)': File exists", s)
    if m:
        return (f"the repository on {server} is locked ({m.group(2)} is left from a git that "
                f"was stopped there); grund removes such a lock once it is a minute old and "
                f"no git uses the repository, so try again in a minute")
    for pattern, detail in _UNREACHABLE:
        m = _first(pattern, s)
        if m:
            return f"cannot reach {server} (ssh: {detail or m.group(0)})"
    m = _first(_BROKE, s)
    if m:
        return f"the connection to {server} broke off (git: {telling_line(s) or m.group(0)})"
    return None


def connection_broke(stderr: str, returncode: "int | None") -> bool:
    """A failed push that may have reached the server all the same: not one that
    could not connect, was not let in, or was refused by the server."""
    return _first(_UNSENT, stderr) is None


def is_transient(stderr: str) -> bool:
    """A connection dropped before the handshake (busy sshd): nothing ran, retry."""
    return _first(r"(?:kex|ssh)_exchange_identification", stderr) is not None


def push_rejected(text: str) -> bool:
    """The push lost a race: the server's branch is not what we built on."""
    # ' ! [rejected]  main -> main (non-fast-forward)', or '(fetch first)'
    if _first(r"\[rejected\].*\((?:non-fast-forward|fetch first)\)", text):
        return True
    # Another push moved the ref between the advertisement and the update:
    # 'remote: error: cannot lock ref 'refs/heads/main': is at X but expected Y'
    # ' ! [remote rejected] main -> main (failed to update ref)'.  Any other
    # "failed to update ref" (disk full, permissions) is not a race.
    return (_first(r"\[remote rejected\]", text) is not None
            and _first(r"cannot lock ref '[^']*': is at [0-9a-f]+ but expected [0-9a-f]+", text) is not None)


def telling_line(stderr: str) -> str:
    """The most telling line of a git/ssh error output."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    # ' ! [remote rejected] main -> main (pre-receive hook declined)': the reason
    m = _first(r"\[remote rejected\][^(]*\((.*)\)", stderr)
    if m:
        return f"the server refused it: {m.group(1)}"
    for ln in lines:
        if ln.startswith(("fatal: ", "error: ")):
            return ln.split(": ", 1)[1]
    return lines[0] if lines else ""
