"""grund running grunter.py: one that crashes, hangs or floods its output."""
import os
import subprocess


def grunter_project(core, body):
    """A project whose grunter.py is ``body`` (counts calls like the test grunters)."""
    head = ("import os, sys, time, subprocess\n"
            "with open(os.path.join(os.environ['HOME'], 'grunter.calls'), 'a') as f:\n"
            "    f.write(sys.argv[1] + ' ' + os.path.basename(os.path.dirname(os.getcwd())) + '\\n')\n")
    proj = core.project("p", grunter="", files={"grunter.py": head + body})
    core.newproj("p")
    return proj


def test_a_grunter_that_crashes(core):
    proj = grunter_project(core, "raise RuntimeError('grunter blew up')\n")
    jid = core.submit(cwd=proj)
    core.grund()
    assert core.jobs(cwd=proj)[jid]["status"] == "Failed"
    out = core.grunt("out", jid, cwd=proj).ok().out
    assert out == "grunter.py submit failed (exit 1): RuntimeError: grunter blew up\n"
    assert core.calls() == [f"submit {jid}", f"results {jid}"]  # results: it has ended


def test_a_grunter_that_hangs_is_stopped(core):
    # it hangs, and so does a child of it that holds its output open
    proj = grunter_project(core, "subprocess.Popen(['sleep', '60.4321'])\ntime.sleep(60)\n")
    jid = core.submit(cwd=proj)
    core.grund("--once", "-q", "--grunter-timeout", "1")
    assert core.jobs(cwd=proj)[jid]["status"] == "Failed"
    msg = "grunter.py submit did not finish within 1 s and was stopped (grund --grunter-timeout)"
    assert core.grunt("out", jid, cwd=proj).ok().out == f"grunter.py submit failed (exit -1): {msg}\n"
    assert msg in core.read(os.path.join(core.sjob(jid), "job.log"))
    assert subprocess.run(["pgrep", "-f", "^sleep 60.4321$"], capture_output=True).stdout == b""


def test_a_grunter_that_prints_10_mb(core):
    proj = grunter_project(core, "for i in range(100000):\n"
                                 "    print(f'{i:08d} ' + 'y' * 92)\n"
                                 "open('job.end', 'w').write('2026-01-01 00:00:00 UTC\\n')\n"
                                 "open('job.exitcode', 'w').write('0\\n')\n")
    jid = core.submit(cwd=proj)
    core.grund()
    log = core.read(os.path.join(core.sjob(jid), "job.log"))
    assert 64 * 1024 < len(log) < 200 * 1024
    assert "[grund: 10134464 bytes of output cut here; job.log keeps 65536 of 10200000]" in log
    assert "00000000 yyy" in log and "00099999 yyy" in log
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(core.bare("p")) for f in fs)
    assert size < 1 << 20
    assert core.jobs(cwd=proj)[jid]["status"] == "Done"
