"""A self-contained grunter for tests: the job is ``sh run.sh <job.args>``.

grund runs ``python3 grunter.py <cmd>`` in the job directory.

* submit: runs the job to its end (job.start, job.out, job.exitcode, job.end).
  With ``bg`` as the first argument it starts the job in the background and
  returns at once; the job then writes job.exitcode and job.end itself.
* results: prints result.txt.   queue: prints one line.   Anything else: nothing.
"""
import datetime
import os
import subprocess
import sys

# the background job: its own stdio, its own session, job.end written last
WRAPPER = ('sh run.sh "$@" > job.out 2>&1; echo $? > job.exitcode; '
           'date -u "+%Y-%m-%d %H:%M:%S UTC" > job.end.new && mv job.end.new job.end')


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def write(name, text):
    with open(name + ".new", "w") as f:
        f.write(text)
    os.replace(name + ".new", name)


def submit():
    with open("job.args") as f:
        args = f.read().splitlines()
    write("job.start", now() + "\n")
    if args[:1] == ["bg"]:
        with open(os.devnull, "rb") as null_in, open(os.devnull, "wb") as null_out:
            p = subprocess.Popen(["sh", "-c", WRAPPER, "job", *args[1:]], stdin=null_in,
                                 stdout=null_out, stderr=null_out, start_new_session=True)
        write("job.pid", f"{p.pid}\n")
        return
    with open("job.out", "w") as out:
        rc = subprocess.call(["sh", "run.sh", *args], stdout=out, stderr=subprocess.STDOUT)
    write("job.exitcode", f"{rc}\n")
    write("job.end", now() + "\n")


def main():
    cmd = sys.argv[1]
    if cmd == "submit":
        submit()
    elif cmd == "results":
        print("result.txt")
    elif cmd == "queue":
        print(f"queue of {os.path.basename(os.getcwd())}: nothing waiting")


if __name__ == "__main__":
    main()
