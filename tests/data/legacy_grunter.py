#!/usr/bin/env python3
# A self-contained grunter.py of the kind projects wrote before gruntlib existed:
# it only reads job.args, writes job.* files, calls sbatch/squeue/scancel and
# prints result file names.  The tests run it unchanged, as grund does.
import glob
import os
import re
import subprocess
import sys


def now():
    return "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"


def submit():
    args = open("job.args").read().splitlines()
    jobid = os.path.basename(os.path.dirname(os.getcwd()))
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
    with open("job.sbatch", "w") as f:
        f.write("#!/bin/bash\n")
        f.write("#SBATCH --job-name=%s\n#SBATCH --output=job.out\n#SBATCH --time=10\n" % jobid)
        f.write("echo %s > job.start\n" % now())
        f.write("python3 compute.py %s\n" % quoted)
        f.write("echo $? > job.exitcode\n")
        f.write("echo %s > job.end\n" % now())
    out = subprocess.check_output(["sbatch", "job.sbatch"]).decode()
    m = re.search(r"Submitted batch job (\d+)", out)
    with open("job.slurmid", "w") as f:
        f.write(m.group(1) + "\n")


def status():
    slurmid = open("job.slurmid").read().strip()
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", slurmid, "-o", "%T"],
                         stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    if out:
        with open("job.status", "w") as f:
            f.write(out + "\n")


def cancel():
    subprocess.call(["scancel", open("job.slurmid").read().strip()])
    subprocess.call(["sh", "-c", "echo %s > job.canceled" % now()])


def results():
    for name in sorted(glob.glob("*.csv")):
        print(name)


if __name__ == "__main__":
    {"submit": submit, "status": status, "cancel": cancel, "results": results}[sys.argv[1]]()
