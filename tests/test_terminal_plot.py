"""grunt plot at a real terminal (tmux): braille in colour, fit to the width;
plain markers with NO_COLOR."""
from __future__ import annotations

from fixture_core import GRUNT
from test_cli_results import trained  # noqa: F401  (the fixture: real runs, pulled)
from test_terminal import tty  # noqa: F401  (a private tmux server)


def test_plot_at_a_terminal(core, trained, tty):  # noqa: F811
    top, _ = trained
    env = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    screen = tty.run(f"{GRUNT} plot --y loss", top, env=env, escapes=True, width=70)
    assert "\x1b[34m" in screen and "\x1b[31m" in screen            # a colour per run
    assert any(0x2800 < ord(ch) <= 0x28FF for ch in screen)          # braille dots
    plain = tty.run(f"{GRUNT} plot --y loss", top, env=dict(env, NO_COLOR="1"), width=70)
    assert not any(0x2800 <= ord(ch) <= 0x28FF for ch in plain) and "* ali000001" in plain
    lines = [ln for ln in plain.splitlines() if "│" in ln or "┤" in ln]
    assert len(lines) == 16 and all(len(ln.rstrip()) <= 70 for ln in lines)
