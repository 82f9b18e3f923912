"""meta-armvm in real Yocto scarthgap (bitbake, openembedded-core and
meta-yocto at kas/'s pins, from the local mirrors in ARMVM_MIRRORS; or a poky
checkout in ARMVM_POKY_DIR), offline: bitbake -p, bitbake -e and bitbake -g
for both machines.  Skips with a clear reason when neither is set (CI has
no Yocto mirrors).  Run:

    ARMVM_MIRRORS=/work/.mirror python3 -m pytest -q -m poky tests/layer
"""

from __future__ import annotations

import re

import pytest

from armvm_oe import requirements as R
from bitbake_env import Bitbake
from layerpaths import FILES, yocto_tree

pytestmark = pytest.mark.poky

MACHINES = {"armvm-aarch64": ("aarch64", "Image", "bootaa64.efi"),
            "armvm-arm": ("arm", "zImage", "bootarm.efi")}


@pytest.fixture(scope="module")
def bb():
    return Bitbake(yocto_tree())


@pytest.fixture(scope="module", params=list(MACHINES))
def machine(request, bb):
    """Parse everything once per machine (bitbake -p); later commands use the cache."""
    r = bb.run(request.param, "-p")
    assert r.returncode == 0, f"bitbake -p failed for {request.param}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert "ERROR" not in r.stdout + r.stderr
    return request.param


def test_image_variables(bb, machine):
    arch, kimage, efi = MACHINES[machine]
    v = bb.getvars(machine, "armvm-image")
    assert v["EFI_PROVIDER"] == "grub-efi"
    assert v["IMAGE_FSTYPES"].split() == ["wic", "wic.bmap"]
    assert v["WKS_FILE"] == "armvm-efi.wks.in"
    # found in the layer (a .wks.in is expanded into WORKDIR at parse time)
    assert v["WKS_TEMPLATE_PATH"].endswith("meta-armvm/files/wic/armvm-efi.wks.in"), v["WKS_TEMPLATE_PATH"]
    assert v["WKS_FULL_PATH"].endswith("/armvm-efi.wks")
    assert v["KERNEL_IMAGETYPE"] == kimage
    assert v["TARGET_SYS"].startswith(arch)  # the plugin derives BOOT<ARCH>.EFI from it
    assert {"efi", "pci"} <= set(v["MACHINE_FEATURES"].split())
    assert v["SERIAL_CONSOLES"].split() == ["115200;ttyAMA0", "115200;hvc0"]
    assert v["KERNEL_DEVICETREE"].strip() == ""  # HW-FDT
    assert "grub-efi" in v["WKS_FILE_DEPENDS"].split()
    assert "armvm" in v["MACHINEOVERRIDES"].split(":")


def test_kernel_variables(bb, machine):
    arch = MACHINES[machine][0]
    v = bb.getvars(machine, "virtual/kernel")
    assert v["PN"] == "linux-yocto"
    src = v["SRC_URI"].split()
    assert "file://armvm-kmeta;type=kmeta;destsuffix=armvm-kmeta" in src
    assert f"file://armvm-required-{arch}.list" in src
    feats = v["KERNEL_FEATURES"].split()
    assert feats[-1] == f"armvm-guest-{arch}.scc"  # the layer's fragment is queued last
    for f in ("cfg/virtio.scc", "cfg/efi-ext.scc", "features/xen/xen.scc"):
        assert f in feats
    assert v["KMACHINE"] == {"aarch64": "qemuarm64", "arm": "qemuarma15"}[arch]
    assert re.fullmatch(r"v\d+\.\d+/standard/\S+", v["KBRANCH"]), v["KBRANCH"]
    assert re.fullmatch(r"[0-9a-f]{40}", v["SRCREV_machine"]), v["SRCREV_machine"]
    assert v["ARMVM_KCONFIG_AUDIT"] == "fatal"
    # the audit list in the layer is the one generated from the requirement table
    listed = [l.split()[0][len("CONFIG_"):] for l in (FILES / f"armvm-required-{arch}.list").read_text().splitlines()
              if l.startswith("CONFIG_")]
    assert set(R.kernel_options(arch)) <= set(listed)


def test_grub_efi_is_built_not_skipped(bb, machine):
    arch, _k, efi = MACHINES[machine]
    v = bb.getvars(machine, "grub-efi")  # a skipped recipe makes bitbake -e fail
    assert v["GRUB_IMAGE"] == efi
    assert v["COMPATIBLE_HOST"] != "null"
    if arch == "arm":
        assert v["TUNE_CCARGS_MFLOAT"] != "hard"
        assert "armv7ve" in v["MACHINEOVERRIDES"].split(":")


def test_task_graph(bb, machine, tmp_path):
    r = bb.run(machine, "-g", "armvm-image")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    pns = set((bb.builddir / "pn-buildlist").read_text().split())
    assert {"armvm-image", "linux-yocto", "grub-efi", "dosfstools-native", "mtools-native"} <= pns
    deps = (bb.builddir / "task-depends.dot").read_text()
    assert '"linux-yocto.do_armvm_kconfig_audit"' in deps
    # the audit runs before the kernel is compiled
    assert re.search(r'"linux-yocto\.do_compile" -> "linux-yocto\.do_armvm_kconfig_audit"', deps)
    assert re.search(r'"armvm-image\.do_image_wic" -> "grub-efi\.do_deploy"', deps)
