"""doctor --log on what the real bitbake prints (openembedded-core + bitbake
from the mirrors in ARMVM_MIRRORS, or poky in ARMVM_POKY_DIR: tests/_yocto.py; run
as the unprivileged builder user, `bitbake -p` in a fresh build directory):
each case breaks one thing in conf/ (or adds a small broken layer) and
expects that as the first cause."""

from __future__ import annotations

import os
import pwd
import subprocess
import tempfile
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe.doctor.logscan import scan
from tests.doctor.conftest import have_user

pytestmark = pytest.mark.poky

CASES = {
    "invalid-machine": ('MACHINE = "nosuchmachine"\n', "", "log.invalid-machine"),
    "invalid-distro": ('DISTRO = "nosuchdistro"\n', "", "log.invalid-distro"),
    "old-override": ('IMAGE_INSTALL_append = " foo"\n', "", "log.old-override-syntax"),
    "layer-missing": ("", 'BBLAYERS += "/nonexistent/meta-gone"\n', "log.layer-dirs-missing"),
    "include-missing": ("require conf/distro/nosuchdistro.conf\n", "", "log.parse-error"),
    "dangling-bbappend": ('BB_NO_NETWORK = "1"\n', 'BBLAYERS += "{base}/meta-x"\n', "log.dangling-bbappend"),
    "layer-depends": ("", 'BBLAYERS += "{base}/meta-y"\n', "log.layer-depends"),
}

# small layers some cases add (written below the build's base directory)
_LAYER = ('BBPATH .= ":${{LAYERDIR}}"\nBBFILES += "${{LAYERDIR}}/recipes-*/*/*.bb '
          '${{LAYERDIR}}/recipes-*/*/*.bbappend"\nBBFILE_COLLECTIONS += "{n}"\n'
          'BBFILE_PATTERN_{n} = "^${{LAYERDIR}}/"\nLAYERSERIES_COMPAT_{n} = "scarthgap"\n{extra}')
FILES = {
    "dangling-bbappend": {"meta-x/conf/layer.conf": _LAYER.format(n="x", extra=""),
                          "meta-x/recipes-x/nosuch/nosuch_1.0.bbappend": "# nothing\n"},
    "layer-depends": {"meta-y/conf/layer.conf": _LAYER.format(
        n="y", extra='LAYERDEPENDS_y = "nosuch-layer"\n')},
}


@pytest.fixture(scope="module")
def poky():
    from _yocto import tree
    p = tree("scarthgap").core     # oe-core (or poky): oe-init-build-env finds ../bitbake
    if not have_user("builder"):
        need_fixture("no builder user (.ci/setup.d/20-doctor.sh creates it)")
    return p


@pytest.mark.parametrize("case", sorted(CASES))
def test_real_bitbake_error(poky, case):
    local, layers, expected = CASES[case]
    base = Path(tempfile.mkdtemp(prefix="doctor-bb-", dir="/tmp"))
    try:
        uid = pwd.getpwnam("builder").pw_uid
        for rel, text in FILES.get(case, {}).items():
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).write_text(text)
        for d in [base, *base.rglob("*")]:
            os.chown(d, uid, uid)
        base.chmod(0o755)
        layers = layers.format(base=base)
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
