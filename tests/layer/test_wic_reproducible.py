"""The armvm_efi plugin and armvm-efi.wks.in through real wic (oe-core's
scripts/wic from the openembedded-core mirror, ARMVM_MIRRORS, at the newest
scarthgap point release; raw mode, host mkfs tools) make the same bytes twice
from the same inputs when SOURCE_DATE_EPOCH is set, as bitbake sets it for
do_image_wic: partition and filesystem UUIDs, the FAT volume serial, the
ESP's times, the GPT disk GUID.  Without it the two disks differ (wic draws
UUIDs at random), so the comparison can fail."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import kernel_flow as F
from layerpaths import WKS
from test_wic_plugin import ARCH, _esp, _make_disk

EPOCH = "1700000000"


@pytest.fixture(scope="module")
def oecore(tmp_path_factory):
    gitdir = F.repo(F.OECORE)
    if gitdir is None:
        pytest.skip(f"{F.OECORE} is not mirrored under {F.mirrors()} (ARMVM_MIRRORS)")
    tag = F.tags(gitdir, F.SERIES["scarthgap"].tag_re)[0]
    return F.archive(gitdir, tag, tmp_path_factory.mktemp("oe-core"), "meta", "scripts")


def _two(tmp_path, oecore, arch, env):
    disks = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        r, disk = _make_disk(tmp_path / run, arch, WKS.read_text(), oecore=oecore,
                             env_extra=env, fstab_update=True)
        assert r.returncode == 0, r.stdout + r.stderr
        disks.append(disk)
    return disks


def _gpt(disk: Path, num: int) -> str:
    info = subprocess.run(["sgdisk", "-i", str(num), str(disk)], capture_output=True, text=True,
                          check=True).stdout
    return re.search(r"Partition unique GUID: ([0-9A-F-]+)", info).group(1).lower()


@pytest.mark.parametrize("arch", ["aarch64", "arm"])
def test_two_runs_give_identical_images(tmp_path, oecore, arch):
    a, b = _two(tmp_path, oecore, arch, {"SOURCE_DATE_EPOCH": EPOCH})
    assert a.stat().st_size == b.stat().st_size
    assert subprocess.run(["cmp", str(a), str(b)], capture_output=True).returncode == 0
    # the derived ids are used consistently: grub.cfg's root, the GPT, fstab
    esp = _esp(tmp_path, a)
    cfg = subprocess.run(["mtype", "-i", str(esp), "::/EFI/BOOT/grub.cfg"], capture_output=True,
                         text=True, check=True).stdout
    assert f"root=PARTUUID={_gpt(a, 2)}" in cfg, cfg
    assert _gpt(a, 1) != _gpt(a, 2)
    serial = subprocess.run(["mdir", "-i", str(esp), "::/"], capture_output=True, text=True,
                            check=True).stdout
    vol = re.search(r"Serial Number is ([0-9A-F]{4}-[0-9A-F]{4})", serial).group(1)
    rootfs = tmp_path / "rootfs.img"
    info = subprocess.run(["sgdisk", "-i", "2", str(a)], capture_output=True, text=True,
                          check=True).stdout
    first = int(re.search(r"First sector: (\d+)", info).group(1))
    last = int(re.search(r"Last sector: (\d+)", info).group(1))
    with open(a, "rb") as src, open(rootfs, "wb") as dst:
        src.seek(first * 512)
        dst.write(src.read((last - first + 1) * 512))
    fstab = subprocess.run(["debugfs", "-R", "cat /etc/fstab", str(rootfs)], capture_output=True,
                           text=True, check=True).stdout
    assert f"UUID={vol}\t/boot/efi" in fstab, fstab


def test_without_source_date_epoch_the_images_differ(tmp_path, oecore):
    a, b = _two(tmp_path, oecore, "aarch64", {})
    assert subprocess.run(["cmp", "-s", str(a), str(b)]).returncode == 1
