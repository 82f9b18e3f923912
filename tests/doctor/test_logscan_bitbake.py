"""doctor --log on what the real bitbake prints (openembedded-core + bitbake
from the mirrors in ARMVM_MIRRORS, or poky in ARMVM_POKY_DIR: tests/_yocto.py; run
as the unprivileged builder user, `bitbake -p` in a fresh build directory):
each case breaks one thing in conf/ and expects that as the first cause."""

from __future__ import annotations

import os
import pwd
import subprocess
import tempfile
from pathlib import Path

import pytest

from armvm_oe.doctor.logscan import scan
from tests.doctor.conftest import have_user

pytestmark = pytest.mark.poky

CASES = {
    "invalid-machine": ('MACHINE = "nosuchmachine"\n', "", "log.invalid-machine"),
    "invalid-distro": ('DISTRO = "nosuchdistro"\n', "", "log.invalid-distro"),
    "old-override": ('IMAGE_INSTALL_append = " foo"\n', "", "log.old-override-syntax"),
    "layer-missing": ("", 'BBLAYERS += "/nonexistent/meta-gone"\n', "log.layer-dirs-missing"),
}


@pytest.fixture(scope="module")
def poky():
    from _yocto import tree
    p = tree("scarthgap").core     # oe-core (or poky): oe-init-build-env finds ../bitbake
    if not have_user("builder"):
        pytest.skip("no builder user (.ci/setup.d/20-doctor.sh creates it)")
    return p


@pytest.mark.parametrize("case", sorted(CASES))
def test_real_bitbake_error(poky, case):
    local, layers, expected = CASES[case]
    base = Path(tempfile.mkdtemp(prefix="doctor-bb-", dir="/tmp"))
    try:
        uid = pwd.getpwnam("builder").pw_uid
        os.chown(base, uid, uid)
        base.chmod(0o755)
        script = (f"cd {poky} && . ./oe-init-build-env {base}/build >/dev/null && "
                  f"printf '%s' '{local}' >> conf/local.conf && "
                  f"printf '%s' '{layers}' >> conf/bblayers.conf && bitbake -p")
        p = subprocess.run(["runuser", "-u", "builder", "--", "env", "-i",
                            "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=en_US.UTF-8",
                            f"HOME={base}", "bash", "-c", script],
                           capture_output=True, text=True, timeout=900)
        log = p.stdout + p.stderr
        assert p.returncode != 0, log
        d = scan(log)
        assert d.first.id == expected, log
        assert d.first.phase == "parse" and d.ties == []
        if "connectivity.html" in log:        # no network here: its own finding too
            assert "log.connectivity" in [f.id for f in d.findings]
    finally:
        subprocess.run(["rm", "-rf", str(base)])
