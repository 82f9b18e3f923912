"""The Xen domU row on this project's own fixture images (busybox init,
no getty; armvm_oe.testing.fixtures), real boots on the harness's Xen host:
root=PARTUUID= reaches the fixture's shell with / on xvda2, the
``dev-vda-root`` variant (root=/dev/vda2) stops at ARMVM-ROOT-NOT-FOUND.
Nightly: the Debian-built images show the same by default
(tests/boot/test_xen_domu.py); measured about 2 minutes each here, both at
once."""

from __future__ import annotations

import threading

import pytest
from _need import need_fixture

from armvm_oe.lib import sha256_file
from armvm_oe.testing import fixtures
from armvm_oe.xen import domu, xenhost

pytestmark = [pytest.mark.xen, pytest.mark.boot, pytest.mark.nightly]


def test_fixture_images_as_xen_domus(tmp_path):
    if xenhost.cached() is None:
        need_fixture("the Xen host is not built: 'python3 -m armvm_oe.xen.xenhost' (as root)")
    images = {"partuuid": fixtures.build_image("aarch64"),
              "vda": fixtures.build_image("aarch64", "dev-vda-root")}
    before = {k: sha256_file(p) for k, p in images.items()}
    cells = {}

    def boot(k):
        cells[k] = domu.run_domu_cell(images[k], log_dir=tmp_path / k, timeout=900)
    threads = [threading.Thread(target=boot, args=(k,)) for k in images]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok, bad = cells["partuuid"], cells["vda"]
    assert ok.status == "pass" and ok.params["outcome"] == "domu-shell", ok.message
    assert ok.params["domu_cmdline"].startswith("root=PARTUUID=")
    log = (tmp_path / "partuuid" / "xen-domu-aarch64.serial.log").read_text(errors="replace")
    assert "ARMVM-FACT root=/dev/xvda2" in log
    assert bad.status == "fail" and bad.params["outcome"] == "root-not-found", bad.message
    assert "root=/dev/vda2 does not exist on Xen: its disk is xvda" in bad.message
    assert {k: sha256_file(p) for k, p in images.items()} == before
