"""grund's cursor: how far it has processed a project's commands, exactly once.

The work list is the ``grcmd.*`` paths that the commits after ``commit`` add
or change (lib/pending.py).  One command goes through these states::

    waiting --begin--> in flight --done------> waiting for the next one
                          |  --failed--> in flight again next round (tries + 1)
                          |  (grund dies) --> found running at the next begin (crashes + 1)

The cursor is written atomically (JSON in the working copy's .git) before a
command starts and after its result is committed, never before: a command is
never lost, and one that was in flight when grund died is known as such when
it begins again (``resumed``), so a ``submit`` is not run twice.  A commit can
hold several commands: those done are listed until the whole commit is.
"""
import json
from typing import NamedTuple

from ..gruntlib import protocol as P

MAX_TRIES = 3     # a command failing this often is given up (and said so on the job)
MAX_CRASHES = 10  # ... and one that grund died in this often (a command that kills grund)


class Attempt(NamedTuple):
    """One try of a command, as ``Cursor.begin`` found it."""

    resumed: bool   # it was in flight before: an earlier try failed or grund died in it
    tries: int      # earlier tries that ended in an error
    crashes: int    # earlier tries that grund did not live through

    @property
    def hopeless(self) -> bool:
        return self.tries >= MAX_TRIES or self.crashes >= MAX_CRASHES


class Cursor:
    """The cursor file of one project's jobs working copy."""

    def __init__(self, path: str, commit: "str | None"):
        self.path = path
        self.commit = commit             # every command up to this commit is done
        self.partial = None              # type: str | None  # a commit done in part ...
        self.done = []                   # type: list[str]   # ... these of its commands
        self.inflight = None             # type: list[str] | None  # [commit, path] begun
        self.tries = 0
        self.crashes = 0
        self.running = False             # in flight and not ended: grund died if still so

    @classmethod
    def load(cls, path: str) -> "Cursor | None":
        """The cursor in ``path``; None when there is none (or it is unreadable)."""
        text = P.read_text(path)
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return None
        cur = cls(path, data.get("commit"))
        cur.partial = data.get("commit_partial")
        cur.done = list(data.get("done", []))
        cur.inflight = data.get("inflight")
        cur.tries = int(data.get("tries", 0))
        cur.crashes = int(data.get("crashes", 0))
        cur.running = bool(data.get("running", False))
        return cur

    def save(self) -> None:
        data = {"commit": self.commit}   # type: dict
        if self.partial:
            data.update(commit_partial=self.partial, done=self.done)
        if self.inflight:
            data.update(inflight=self.inflight, tries=self.tries, crashes=self.crashes,
                        running=self.running)
        P.write_atomic(self.path, json.dumps(data) + "\n", mode=0o600)

    # -- transitions --------------------------------------------------------
    def is_done(self, commit: str, path: str) -> bool:
        return commit == self.partial and path in self.done

    def begin(self, commit: str, path: str, failed_for_room: bool) -> Attempt:
        """Mark the command in flight (saved before it runs); what earlier tries left.

        A try found still running was cut short by grund's death, unless it
        only failed to save its end for lack of room (``failed_for_room``).
        """
        resumed = self.inflight == [commit, path]
        tries = self.tries if resumed else 0
        crashes = self.crashes if resumed else 0
        if resumed and self.running and not failed_for_room:
            crashes += 1
        self.inflight, self.tries, self.crashes, self.running = [commit, path], tries, crashes, True
        self.save()
        return Attempt(resumed, tries, crashes)

    def failed(self, counts: bool) -> None:
        """The command in flight ended in an error; ``counts``: toward giving up.

        Saved when possible: out of room, the next begin knows (failed_for_room).
        """
        if counts:
            self.tries += 1
        self.running = False
        try:
            self.save()
        except OSError:
            pass

    def done_with(self, commit: str, path: str, last_of_commit: bool) -> None:
        """The command's result is committed: the cursor moves past it."""
        if last_of_commit:
            self.commit, self.partial, self.done = commit, None, []
        else:
            self.done = (self.done if self.partial == commit else []) + [path]
            self.partial = commit
        self.inflight, self.tries, self.crashes, self.running = None, 0, 0, False
        self.save()

    def catch_up(self, tip: str) -> None:
        """The whole work list up to ``tip`` is done (commits holding no command too)."""
        if self.commit != tip or self.partial or self.inflight:
            self.commit, self.partial, self.done, self.inflight = tip, None, [], None
            self.save()
