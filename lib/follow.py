"""`grunt out -f`: follow a job's output on the server until the job ends.

The client runs ``python3 -c FOLLOW_PY ...`` on the server over its one ssh
connection (the job's output reaches the jobs repo only when grund commits,
at the job's start and end).  The script reads ``job.out`` (and an array's
``job.<T>.out``) in grund's working copy as it grows, and stops once the
job's own files say it ended: ``job.end``, ``job.canceled``, ``job.error``,
or a final scheduler state in ``job.status`` (for every task of an array).
It uses gruntlib.protocol from grund's runtime for the state words.

argv: <runtime dir> <jobs working copy> <jobid> <proj> <poll seconds>
"""
from __future__ import annotations

FOLLOW_PY = r'''
import os, re, sys, time
rt, wc, jid, proj, poll = sys.argv[1:6]
sys.path.append(rt)
try:
    from gruntlib import protocol as P
except ImportError:
    sys.exit("grund has not run on this server yet (no " + rt + ")")

def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None

def jobdir():
    for folder in P.FOLDERS:
        d = os.path.join(wc, folder, jid, proj)
        if os.path.isdir(d):
            return d
    return None

def ended(d, names, pre):
    words = (read(os.path.join(d, pre + "status")) or "").split()
    return pre + "end" in names or bool(words) and words[0] in P.FINAL_STATES

def finished(d, names):
    if "job.canceled" in names or "job.error" in names:
        return True
    if "job.array" in names:
        tasks = P.array_tasks((read(os.path.join(d, "job.array")) or "").strip())
        return bool(tasks) and all(ended(d, names, "job.%d." % t) for t in tasks)
    return ended(d, names, "job.")

out = sys.stdout.buffer
pos, last = {}, None
while True:
    d = jobdir()
    if d is not None:
        names = set(os.listdir(d))
        done = finished(d, names)   # before reading: the last bytes are read after
        files = sorted(n for n in names if n == "job.out" or re.match(r"job\.\d+\.out$", n))
        for name in files:
            try:
                with open(os.path.join(d, name), "rb") as f:
                    f.seek(pos.get(name, 0))
                    data = f.read()
            except OSError:
                continue
            if not data:
                continue
            pos[name] = pos.get(name, 0) + len(data)
            if len(files) > 1 and name != last:
                out.write(("\n" if last else "") .encode() + ("==> %s <==\n" % name).encode())
            last = name
            out.write(data)
            out.flush()
        if done:
            break
    time.sleep(float(poll))
'''
