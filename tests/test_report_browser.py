"""grunt report in a real headless browser (Debian's chromium): the file loads with
no network, its charts render, and nothing is fetched from anywhere."""
from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import zlib

import pytest

from test_cli_results import trained  # noqa: F401  (the fixture: real runs, pulled)

pytestmark = pytest.mark.system
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# what the browser itself asks for whatever page it shows (component updates, the
# network time, the account service of Debian's build): not the report's doing
BROWSER_OWN = (b"update.googleapis.com", b"clients2.google.com/time/", b"accounts.google.com:443")


class Trap:
    """A proxy that answers nothing: every connection the browser makes is recorded."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen: "list[bytes]" = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                self.seen.append(conn.recv(4096).split(b"\r\n")[0])
            except OSError:
                self.seen.append(b"(connection)")
            conn.close()

    def close(self) -> None:
        self.sock.close()


def _browser(tmp: str, trap: Trap, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--no-default-browser-check", "--hide-scrollbars",
         "--disable-extensions", "--disable-features=NetworkTimeServiceQuerying,Translate,"
         "OptimizationHints,MediaRouter,AutofillServerCommunication",
         f"--user-data-dir={os.path.join(tmp, 'profile')}",
         f"--proxy-server=http://127.0.0.1:{trap.port}", "--proxy-bypass-list=<-loopback>",
         *argv], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def png_pixels(path: str) -> "tuple[int, int, list[bytes]]":
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, rows, prev = zlib.decompress(idat), [], bytearray(w * bpp)
    stride = w * bpp + 1
    for y in range(h):
        f, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        for i in range(len(line)):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, [bytes(r[i:i + 3]) for r in rows for i in range(0, len(r), bpp)]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make deps)")
def test_the_report_in_a_browser(core, trained, tmp_path):  # noqa: F811
    top, _ = trained
    out = str(tmp_path / "report.html")
    core.grunt("report", "-o", out, "--y", "loss", "--y", "acc", "--by", "lr", cwd=top).ok()
    trap = Trap()
    try:
        dom = _browser(str(tmp_path), trap, "--dump-dom", "file://" + out)
        assert dom.returncode == 0, dom.stderr
        shot = os.environ.get("GRUNT_TEST_SHOT") or str(tmp_path / "shot.png")
        p = _browser(str(tmp_path), trap, f"--screenshot={shot}", "--window-size=900,1200",
                     "file://" + out)
        assert p.returncode == 0 and os.path.exists(shot), p.stderr
        # and it prints: two charts, two tables on pages of their own
        pdf = str(tmp_path / "report.pdf")
        p = _browser(str(tmp_path), trap, f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
                     "file://" + out)
        assert p.returncode == 0 and os.path.exists(pdf), p.stderr
        pages = len(re.findall(rb"/Type\s*/Page\b", open(pdf, "rb").read()))
        assert 1 <= pages <= 4, pages
        # the trap sees what a page fetches: one that loads a font is caught
        fetched = [r for r in trap.seen if not any(own in r for own in BROWSER_OWN)]
        assert fetched == [], f"the report made the browser fetch: {fetched}"
        control = tmp_path / "control.html"
        control.write_text('<link rel="stylesheet" href="http://fonts.example.org/f.css">ok')
        _browser(str(tmp_path), trap, "--dump-dom", f"file://{control}")
        assert any(b"fonts.example.org" in r for r in trap.seen), trap.seen
    finally:
        trap.close()
    # the charts are there after loading: two plots, a mean line and a band per lr value
    html = dom.stdout
    assert html.count('<svg class="plot"') == 2
    assert html.count('class="series"') == 4 and html.count('class="band"') == 4
    assert "<table>" in html and html.count("<tr>") >= 10 and "lr 0.5 seed 2" in html
    # and they were drawn: the first two series colours cover pixels of the screenshot
    w, h, px = png_pixels(shot)
    assert (w, h) == (900, 1200)
    blue, red = bytes((0x1f, 0x77, 0xb4)), bytes((0xd6, 0x27, 0x28))
    assert px.count(blue) > 200 and px.count(red) > 200, (px.count(blue), px.count(red))
    assert len(set(px)) > 20   # not a blank page
