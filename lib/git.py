"""The one subprocess wrapper for git.

Every call is an argv list with an explicit repository (``cwd``), a scrubbed
environment (no inherited GIT_DIR, GIT_INDEX_FILE, ... from a hook; the ssh
variables stay), no prompts, and errors that carry argv, exit code and stderr.
"""
import os
import random
import subprocess
import time
from subprocess import PIPE

from .errors import GruntError

# Variables git sets for hooks and that would redirect our calls to another
# repository.  GIT_SSH, GIT_SSH_COMMAND and GIT_SSH_VARIANT are kept.
_SCRUB = {
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_PREFIX", "GIT_COMMON_DIR",
    "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_QUARANTINE_PATH",
    "GIT_EXEC_PATH", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_LITERAL_PATHSPECS", "GIT_GLOB_PATHSPECS", "GIT_NOGLOB_PATHSPECS",
    "GIT_ICASE_PATHSPECS", "GIT_PUSH_OPTION_COUNT", "GIT_REFLOG_ACTION",
}


# File descriptors every git child inherits.  grund puts its children lock
# here, so a killed grund's git processes are waited for by the next one.
INHERIT_FDS: "tuple[int, ...]" = ()


class GitError(GruntError):
    def __init__(self, argv: "list[str]", returncode: int, stdout: bytes, stderr: bytes,
                 cwd: "str | None" = None):
        self.argv = argv
        self.cwd = cwd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr.decode("utf-8", "replace")
        first = next((ln for ln in self.stderr.splitlines() if ln.strip()), "")
        # the subcommand, not an option: `git -c x=y commit` is "git commit"
        sub = next((a for prev, a in zip(argv, argv[1:])
                    if not a.startswith("-") and prev not in ("-c", "-C")), "")
        super().__init__(f"git {sub} failed"
                         + (f": {first.strip()}" if first else f" (exit {returncode})"))


def git_env(extra: "dict[str, str] | None" = None) -> "dict[str, str]":
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_ASKPASS", "true")
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


def git(*args: str, cwd: "str | None" = None, input: "bytes | None" = None,
        check: bool = True, env: "dict[str, str] | None" = None) -> bytes:
    """Run ``git <args>`` in ``cwd``; return stdout; raise GitError on failure."""
    argv = ["git", *args]
    try:
        p = subprocess.run(argv, cwd=cwd, input=input, stdout=PIPE, stderr=PIPE, pass_fds=INHERIT_FDS,
                           env=git_env(env), stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise GruntError("git is not installed (or not on PATH)") from None
    if check and p.returncode != 0:
        raise GitError(argv, p.returncode, p.stdout, p.stderr, cwd)
    return p.stdout


def ok(*args: str, cwd: "str | None" = None, env: "dict[str, str] | None" = None) -> bool:
    """True when ``git <args>`` exits 0."""
    return subprocess.run(["git", *args], cwd=cwd, stdout=PIPE, stderr=PIPE, pass_fds=INHERIT_FDS,
                          stdin=subprocess.DEVNULL, env=git_env(env)).returncode == 0


def out(*args: str, cwd: "str | None" = None, env: "dict[str, str] | None" = None) -> str:
    """stdout of ``git <args>`` as stripped text."""
    return git(*args, cwd=cwd, env=env).decode("utf-8", "replace").strip()


def loose_ref(wc: str, name: str) -> "str | None":
    """The object a ref of the working copy ``wc`` names, read from its file (HEAD
    through the branch it points at); None when it is not a plain loose ref (then
    ask git)."""
    try:
        with open(os.path.join(wc, ".git", *name.split("/")), "rb") as f:
            text = f.read().decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if text.startswith("ref: refs/") and name == "HEAD":
        return loose_ref(wc, text[5:])
    return text if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text) else None


def zsplit(data: bytes) -> "list[str]":
    """Split NUL-terminated ``-z`` output into paths."""
    return [p.decode("utf-8", "surrogateescape") for p in data.split(b"\0") if p]


def init(path: str, branch: str, bare: bool = False) -> None:
    """A new repository whose first branch is ``branch``.

    ``git init -b`` needs git 2.28: point HEAD at the branch instead (git 2.17 has it).
    """
    git("init", "-q", *(["--bare"] if bare else []), path)
    git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=path)
def remove_stale_locks(wc: str, older_than: "float | None" = None) -> "list[str]":
    """Remove the ``*.lock`` files a killed git left in ``wc``'s .git; their paths.

    Call it only while no git of ours can be working in ``wc`` (grunt and grund
    hold a lock that their git children inherit).  ``older_than``: only files
    last modified before this time.
    """
    gone = []
    gitdir = os.path.join(wc, ".git")
    for d, dirs, files in os.walk(gitdir):
        if d == gitdir:   # git's locks: index, HEAD, config, packed-refs, ... and refs/
            dirs[:] = [x for x in dirs if x == "refs"]
        for f in files:
            p = os.path.join(d, f)
            if f.endswith(".lock") and (older_than is None or os.path.getmtime(p) < older_than):
                os.unlink(p)
                gone.append(p)
    return gone


class BlobPack:
    """A ``git fast-import`` in ``repo`` that stores the blobs given to it in one pack.

    ``git add`` of many new or changed files writes a loose object for each;
    given blobs already in a pack it only hashes the files.  A blob that is
    not what the file holds when ``git add`` reads it is merely unused.
    """

    def __init__(self, repo: str):
        # no fsync of the pack: git writes loose objects without one either, and
        # these blobs are what git add would otherwise write as loose objects
        # (core.fsync needs git 2.36; an older git ignores it)
        self.argv = ["git", "-c", "core.fsync=none", "fast-import", "--quiet"]
        try:
            self.p = subprocess.Popen(self.argv, cwd=repo, stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      pass_fds=INHERIT_FDS, env=git_env())
        except FileNotFoundError:
            raise GruntError("git is not installed (or not on PATH)") from None
        self.broken = False

    def copy(self, src, dst: "str | None" = None) -> None:
        """Store the content of the open file ``src`` (its size now); also write it to
        ``dst`` when given (the one read of the file)."""
        left = os.fstat(src.fileno()).st_size
        out = open(dst, "wb") if dst is not None else None
        try:
            self._write(b"blob\ndata %d\n" % left)
            while True:
                chunk = src.read(min(left, 1 << 20) if left > 0 else 1 << 20)
                if not chunk:
                    break
                if out is not None:
                    out.write(chunk)
                if left > 0:
                    self._write(chunk[:left])
                left -= len(chunk)
            # a file that shrank meanwhile: the blob is padded (and unused)
            self._write(b"\0" * max(left, 0) + b"\n")
        finally:
            if out is not None:
                out.close()

    def _write(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            self.p.stdin.write(data)
        except BrokenPipeError:
            self.broken = True   # fast-import stopped: close() says why

    def close(self) -> None:
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        err = self.p.stderr.read()
        if self.p.wait() != 0:
            raise GitError(self.argv, self.p.returncode, b"", err)

    def kill(self) -> None:
        self.p.kill()
        self.p.wait()
        self.p.stderr.close()

    def __enter__(self) -> "BlobPack":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.close()
        else:
            self.kill()


def write_blobs(repo: str, paths: "list[str]") -> None:
    """Store the files ``paths`` as blobs in ``repo``, all in one pack (one git fast-import)."""
    with BlobPack(repo) as pack:
        for path in paths:
            with open(path, "rb") as f:
                pack.copy(f)


def commit(msg: str, cwd: str, env: "dict[str, str]") -> None:
    """A commit made by grunt or grund: no hooks, never a signing prompt."""
    git("-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", msg, cwd=cwd, env=env)


def backoff(attempt: int) -> None:
    """After a push lost a race: wait a random while, longer after each lost race,
    so that racing pushers (clients and grund) spread out."""
    time.sleep(random.uniform(0, min(1.0, 0.02 * 2 ** attempt)))
