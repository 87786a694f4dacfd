#!/usr/bin/env python3
"""Test grunter: runs `sh run.sh <args>` to the end during `submit`.

Self-contained, like a user's grunter.py: it reads job.args, writes job.*
files and prints result file names for `results`.  Every call is appended to
~/grunter.calls as "<cmd> <jobid>", so tests can count how often grund ran it.
"""
import os
import subprocess
import sys
import time


def ts():
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def write(name, text):
    with open(name, "w") as f:
        f.write(text)


def main(cmd):
    jobid = os.path.basename(os.path.dirname(os.getcwd()))
    with open(os.path.join(os.environ["HOME"], "grunter.calls"), "a") as f:
        f.write(f"{cmd} {jobid}\n")
    with open("job.args") as f:
        args = f.read().splitlines()
    if cmd == "submit":
        write("job.start", ts() + "\n")
        with open("job.out", "w") as out:
            rc = subprocess.call(["sh", "run.sh", *args], stdout=out, stderr=subprocess.STDOUT)
        write("job.exitcode", f"{rc}\n")
        write("job.end", ts() + "\n")
    elif cmd == "status":
        write("job.status", "COMPLETED checked " + ts() + "\n")
    elif cmd == "cancel":
        write("job.canceled", ts() + "\n")
    elif cmd == "results":
        if os.path.exists("results.lst"):
            with open("results.lst") as f:
                print(f.read(), end="")
        elif os.path.isdir("out"):
            print("out")
    else:
        print(f"grunter: unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
