"""lib/term.py: tables and colour, without a terminal."""
import io

from lib import term


def test_table_and_colour(monkeypatch):
    out = term.table(["ID", "STATUS", "MSG"], [["a1", "Done", "x y"], ["b", "Failed (2)", "z"]],
                     colour_col=1)
    assert out == "ID  STATUS      MSG\na1  Done        x y\nb   Failed (2)  z"

    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr("sys.stdout", Tty())
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert term.colour_state("Done") == "\033[32mDone\033[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert term.colour_state("Done") == "Done"
