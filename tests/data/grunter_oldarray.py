#!/usr/bin/env python3
"""Test grunter that leaves what the original grunt's array sample leaves: a setup
job, an array and a cleanup job, each with a scheduler id of its own in
job.slurmid (one per line), their output in job.<id>.setup.out, job.<id>_<task>.out
(and .err), job.<id>.cleanup.out; `queue` writes job.queue and prints nothing.
It runs nothing: the files stand for what the scheduler would write."""
import sys
import time


def write(name, text):
    with open(name, "w") as f:
        f.write(text)


def ts():
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


cmd = sys.argv[1]
if cmd == "submit":
    write("job.slurmid", "3\n4\n5\n")
    write("job.start", ts() + "\n")
    write("job.3.setup.out", "setting up\n")
    for task in (0, 1, 10):
        write("job.4_%d.out" % task, "task %d ran\n" % task)
    write("job.4_1.err", "task 1 warned\n")
    write("job.5.cleanup.out", "cleaned up\n")
    write("job.exitcode", "0\n")
    write("job.end", ts() + "\n")
elif cmd == "queue":
    write("job.queue", "queue at: now\nsqueue -u me\n  4_2 RUNNING\n")
elif cmd == "status":
    write("job.status", "COMPLETED\n")
