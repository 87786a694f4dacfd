"""The laptop's side: the project's copies and syncing with the server (project),
reaching it (remote), snapshots, provenance, the jobs cache, publishing a job or
command, gresults/ links, what runs on the server for the client (onserver), and
reading a colleague's shared project.  Never imports server/ or cli/."""
