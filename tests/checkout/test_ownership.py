"""A config inside a repository git refuses (another owner) is a clear error,
not a silent fallback to the wrong top directory."""

import os
import pwd
import shutil
import subprocess

import pytest
from _need import need_fixture

from armvm_oe import kasconfig
from armvm_oe.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_dubious_ownership_is_named(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        need_fixture("needs root to give the repository to another user (the CI runs as root)")
    try:
        other = pwd.getpwnam("builder")
    except KeyError:
        need_fixture("no 'builder' user (.ci/setup.d/20-doctor.sh creates it)")
    monkeypatch.setenv("HOME", str(tmp_path))          # no global safe.directory
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = tmp_path / "proj"
    shutil.copytree(os.path.join(ROOT, "kas"), repo / "kas")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for dirpath, dirnames, filenames in os.walk(repo):
        for name in dirnames + filenames + [""]:
            os.lchown(os.path.join(dirpath, name), other.pw_uid, other.pw_gid)
    with pytest.raises(InputError) as err:
        kasconfig.load_config(repo / "kas" / "armvm-aarch64.yml", work_dir=tmp_path / "work")
    assert "safe.directory" in err.value.paragraph()
