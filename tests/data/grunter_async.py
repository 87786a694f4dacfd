#!/usr/bin/env python3
"""Test grunter: `submit` starts `sh run.sh <args>` in the background.

The background process waits (bounded) for a file `go` in the job directory,
so a test sees the job Pending, then Running; it writes job.start, job.out,
job.exitcode and job.end itself and touches <jobs working copy>/.git/grunt-changed
so that grund commits the files.  Calls are appended to ~/grunter.calls.
"""
import os
import signal
import subprocess
import sys
import time


def ts():
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def write(name, text):
    with open(name + ".tmp", "w") as f:
        f.write(text)
    os.replace(name + ".tmp", name)


def changed():
    marker = os.path.join("..", "..", "..", ".git", "grunt-changed")
    with open(marker, "a"):
        os.utime(marker)


def background():
    deadline = time.time() + 30
    while not os.path.exists("go") and time.time() < deadline:
        time.sleep(0.02)
    with open("job.args") as f:
        args = f.read().splitlines()
    write("job.start", ts() + "\n")
    changed()
    with open("job.out", "w") as out:
        rc = subprocess.call(["sh", "run.sh", *args], stdout=out, stderr=subprocess.STDOUT)
    write("job.exitcode", f"{rc}\n")
    write("job.end", ts() + "\n")
    changed()


def main(cmd):
    if cmd == "_background":
        return background()
    jobid = os.path.basename(os.path.dirname(os.getcwd()))
    with open(os.path.join(os.environ["HOME"], "grunter.calls"), "a") as f:
        f.write(f"{cmd} {jobid}\n")
    if cmd == "submit":
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "_background"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        write("job.pid", f"{p.pid}\n")
    elif cmd == "status":
        state = ("COMPLETED" if os.path.exists("job.end") else
                 "RUNNING" if os.path.exists("job.start") else "PENDING (Resources)")
        write("job.status", state + "\n")
    elif cmd == "cancel":
        try:
            with open("job.pid") as f:
                os.killpg(int(f.read()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        write("job.canceled", ts() + "\n")
    elif cmd == "results":
        print("out")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
