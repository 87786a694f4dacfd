"""The cluster's side: the repositories (repos), grund (grund: lock, wake-up,
loop; project: one project's round; cursor: exactly once), its working copies
(workcopy), core commands and the results copy, running a grunter, and the
owner's side of sharing.  Never imports client/ or cli/."""
