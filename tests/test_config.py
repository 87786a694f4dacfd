"""lib/config.py: the job id prefix, the project's name and server."""
import pytest

from lib import config
from lib.errors import GruntError


@pytest.mark.parametrize("login, prefix", [("alice", "ali"), ("Bob-2", "bob"), ("jo", "jox"),
                                           ("x_9.y", "xyx")])
def test_prefix_from_login(monkeypatch, login, prefix):
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(var, login)
    assert config.prefix() == prefix


def test_project_name_and_server(tmp_path):
    top = tmp_path / "my-proj"
    top.mkdir()
    assert config.project_name(str(top)) == "my-proj"
    (top / "grunt.projnm").write_text("short\n")
    assert config.project_name(str(top)) == "short"
    (top / "grunt.projname").write_text("long\n")
    assert config.project_name(str(top)) == "long"
    (top / "grunt.projname").write_text("bad name\n")
    with pytest.raises(GruntError, match="invalid project name 'bad name'"):
        config.project_name(str(top))
    (top / "grunt.server").write_text("\n  alpine  \n")
    assert config.project_server(str(top)) == "alpine"
