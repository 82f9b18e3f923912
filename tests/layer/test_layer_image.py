"""An image made from meta-armvm's own parts, booted: the layer's wks
through openembedded-core's real wic with the armvm_efi plugin, GRUB made
the way the grub-efi recipe makes BOOTAA64.EFI/BOOTARM.EFI (its
GRUB_BUILDIN, its embedded cfg, EFIDIR), a busybox-static root filesystem
(armvm_oe.testing.layerimage), and first Debian's kernel, then the layer's
own kernel (armvm_oe.testing.layerkernel: Debian's linux-source-6.1, the
arch defconfig + the layer's fragment through merge_config.sh and
olddefconfig, Debian's cross compiler).

openembedded-core comes from the local mirror (ARMVM_MIRRORS, default
/work/.mirror, <owner>+<name>/repo) at yocto-5.0.19, extracted into a
temporary directory: the `oecore` tests skip with the reason when it is
absent. By default: the disk checks and ONE boot cell per arch with Debian's
kernel; nightly: the full matrix and the Xen rows, with Debian's kernel and
with the layer's (whose compile is cached by its configuration's hash)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from armvm_oe.lib import sha256_file
from armvm_oe.testing import layerimage, layerkernel
from tests.boot._cli import finish, start_test

ARCHES = ("aarch64", "arm")
ONE_CELL = ("--gic", "3", "--virtio", "pci", "--console", "pl011", "--no-varstore",
            "--no-hotplug", "--jobs", "1", "--timeout", "900")


# -- pure parts (no mirror needed) -------------------------------------------

def test_bitbake_assignments_are_read_like_bitbake_writes_them(tmp_path):
    text = ('GRUB_BUILDIN ?= "boot linux \\\n    fat  normal"\n'
            'GRUB_BUILDIN:append:aarch64 = " xen_boot"\n'
            'OTHER = "x"\n')
    assert layerimage._assignments(text, "GRUB_BUILDIN") == [("?=", "boot linux fat normal")]
    assert layerimage._assignments(text, "OTHER") == [("=", "x")]
    assert layerimage._assignments(text, "MISSING") == []
    # a tree whose recipe lost GRUB_BUILDIN is an error, never an empty module list
    grub = tmp_path / "meta/recipes-bsp/grub"
    (grub / "files").mkdir(parents=True)
    (grub / "grub-efi_2.12.bb").write_text('GRUB_TARGET = "arm64"\n')
    (grub / "files" / "cfg").write_text("search\n")
    (tmp_path / "meta/conf").mkdir()
    (tmp_path / "meta/conf/image-uefi.conf").write_text('EFIDIR ?= "/EFI/BOOT"\n')
    with pytest.raises(ValueError, match="GRUB_BUILDIN"):
        layerimage.grub_recipe(tmp_path)


def test_layer_kernel_key_follows_every_input():
    base = ("CONFIG_XEN=y\n", "6.1.192-3", "aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0",
            "Image")
    key = layerkernel.config_key(*base)
    assert key == layerkernel.config_key(*base)
    for i, other in enumerate(("CONFIG_XEN=n\n", "6.1.192-4", "gcc 13", "zImage")):
        changed = list(base)
        changed[i] = other
        assert layerkernel.config_key(*changed) != key, i


def test_layer_kernel_release_from_the_config_header():
    cfg = "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/arm64 6.1.192 Kernel Configuration\n#\n"
    assert layerkernel.release(cfg + 'CONFIG_LOCALVERSION=""\n') == "6.1.192"
    assert layerkernel.release(cfg + 'CONFIG_LOCALVERSION="-armvm"\n') == "6.1.192-armvm"
    with pytest.raises(ValueError, match="not a resolved kernel"):
        layerkernel.release("CONFIG_XEN=y\n")


@pytest.mark.kconfig
def test_layer_kernel_configuration_is_the_fragment_resolved_deterministically(tmp_path):
    """Everything up to the compile: the configuration for each machine has
    every option the layer's fragment asks for, and its cache key is stable."""
    try:
        results = {a: layerkernel.configure(a, tmp_path / a) for a in ARCHES}
        again = layerkernel.configure("aarch64", tmp_path / "again")
    except layerkernel.Missing as e:
        pytest.fail(f"{e} (.ci/setup.d/05-layer.sh installs it)")
    import kernel_tree
    for arch, (text, key) in results.items():
        assert kernel_tree.requested_not_final(layerkernel.fragments(arch), text) == {}, arch
        assert re.fullmatch(r"[0-9a-f]{16}", key)
    assert again == results["aarch64"]
    assert results["aarch64"][1] != results["arm"][1]


# -- the image through real wic ----------------------------------------------

@pytest.fixture(scope="module")
def oecore(tmp_path_factory):
    if layerimage.oecore_git() is None:
        pytest.skip(f"openembedded-core at {layerimage.OECORE_TAG} is not mirrored in "
                    f"{layerimage.mirrors()}/{layerimage.OECORE_REPO}/repo (set ARMVM_MIRRORS to "
                    "a directory of <owner>+<name>/repo mirrors; see docs/layer.md)")
    return layerimage.extract_oecore(tmp_path_factory.mktemp("oecore"))


@pytest.fixture(scope="module")
def debian_kernel_images(oecore, tmp_path_factory):
    return {a: layerimage.build(oecore, a, "debian", tmp_path_factory.mktemp(f"deb-{a}"))
            for a in ARCHES}


def _esp_file(disk: Path, name: str, tmp: Path) -> bytes:
    info = subprocess.run(["sgdisk", "-i", "1", str(disk)], capture_output=True, text=True,
                          check=True).stdout
    first = int(re.search(r"First sector: (\d+)", info).group(1))
    out = tmp / "esp-file"
    subprocess.run(["mcopy", "-o", "-i", f"{disk}@@{first * 512}", f"::{name}", str(out)],
                   check=True, capture_output=True)
    return out.read_bytes()


@pytest.mark.oecore
@pytest.mark.parametrize("arch", ARCHES)
def test_image_from_the_layers_parts_is_compliant(debian_kernel_images, oecore, arch, tmp_path):
    disk = debian_kernel_images[arch]
    # what the assembly decides passes; the kernel configuration is Debian's
    # here (armmp-lpae has no PCIe hot-plug: GUEST-HOTPLUG), the layer's own
    # kernel must pass everything (test_layer_kernel_image_is_compliant)
    fails = [f for f in _verify(disk)["findings"] if f["result"] != "pass" and f["check"] != "kconfig"]
    assert not fails, fails
    # GRUB is grub-efi's: its embedded early config and its module list
    recipe = layerimage.grub_recipe(oecore)
    efi = _esp_file(disk, f"/EFI/BOOT/BOOT{layerimage.ARCH[arch][1].upper()}.EFI", tmp_path)
    assert recipe["early_cfg"].encode() in efi
    assert recipe["prefix"] == "/EFI/BOOT" and {"search", "part_gpt", "fat", "ext2"} <= set(recipe["modules"])
    # the grub.cfg is the stock plugin's (armvm_efi delegates), Debian's kernel with its initramfs
    cfg = _esp_file(disk, "/EFI/BOOT/grub.cfg", tmp_path).decode()
    kernel = layerimage.ARCH[arch][0]
    assert re.search(rf"^linux /{kernel} root=PARTUUID=[0-9a-f-]{{36}} rootwait rw$", cfg, re.M), cfg
    assert "initrd /initrd.img" in cfg and "console=" not in cfg


@pytest.mark.oecore
def test_layer_kernel_image_wiring_without_the_compile(oecore, tmp_path, monkeypatch):
    """The 'layer' branch of the builder up to the kernel: whatever
    layerkernel.build returns goes to the ESP as Image, its config to
    /boot/config-<release>, and grub.cfg has no initrd (the layer's kernel
    has its drivers built in)."""
    cached = tmp_path / "cache" / "key"
    cached.mkdir(parents=True)
    (cached / "Image").write_bytes(b"MZ stand-in for the compiled kernel\n" * 64)
    (cached / "config").write_text("# Linux/arm64 6.1.192 Kernel Configuration\n"
                                   'CONFIG_LOCALVERSION="-t"\nCONFIG_XEN=y\n')
    monkeypatch.setattr(layerkernel, "build", lambda arch: cached / "Image")
    disk = layerimage.build(oecore, "aarch64", "layer", tmp_path / "img")
    assert _esp_file(disk, "/Image", tmp_path) == (cached / "Image").read_bytes()
    cfg = _esp_file(disk, "/EFI/BOOT/grub.cfg", tmp_path).decode()
    assert "initrd" not in cfg and re.search(r"^linux /Image root=PARTUUID=", cfg, re.M), cfg
    assert (tmp_path / "img/rootfs/boot/config-6.1.192-t").read_text() == (cached / "config").read_text()


def _verify(disk: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "armvm_oe", "verify", str(disk), "--json"],
                       capture_output=True, text=True)
    assert r.returncode in (0, 1) and r.stdout.startswith("{"), r.stderr[-2000:]
    return json.loads(r.stdout)


def _boot(image: Path, out: Path, *args: str, timeout: float = 3600):
    before = sha256_file(image)
    rc, report, err = finish(start_test(image, out, "--keep-logs", *args), timeout)
    assert sha256_file(image) == before
    return rc, report, err


def _assert_cells(rc, report, err, arch, release, count):
    assert report, err[-3000:]
    cells = report["cells"]
    bad = [(c["name"], c["status"], c.get("message")) for c in cells if c["status"] != "pass"]
    assert rc == 0 and not bad and len(cells) == count, (bad, err[-3000:])
    for c in cells:
        if c["params"].get("hypervisor") == "xen":   # the Xen rows name the kernel they started
            assert f"({release})" in c["params"]["kernel"], c["params"]
        elif not c["name"].endswith("-reboot"):      # the guest's own uname -r (the
            assert c["facts"]["kernel"] == release, c  # variable-store reboot reads no facts)
    return cells


@pytest.mark.oecore
@pytest.mark.boot
@pytest.mark.parametrize("arch", ARCHES)
def test_one_cell_boots_debians_kernel(debian_kernel_images, arch, tmp_path):
    from armvm_oe.testing import debian
    rc, report, err = _boot(debian_kernel_images[arch], tmp_path, "--arch", arch, *ONE_CELL)
    (cell,) = _assert_cells(rc, report, err, arch, debian.kernel(arch)[2], 1)
    assert cell["facts"]["gic"] == "3" and cell["facts"]["tty"] == "ttyAMA0"


# -- nightly: every cell and the Xen rows --------------------------------------

def _xen_host():
    from armvm_oe.xen import xenhost
    if xenhost.cached() is None:
        pytest.skip("the Xen host of the domU row is not in the cache; build it (as root) with "
                    "'python3 -m armvm_oe.xen.xenhost' (.ci/setup.d/35-xen-domu.sh does)")


@pytest.fixture(scope="module")
def layer_kernel_images(oecore, tmp_path_factory):
    """Compiles the layer's kernel when its configuration's hash is not in
    cache_dir()/layer-kernel (hours on a loaded 2-core machine)."""
    return _PerArch(lambda a: layerimage.build(oecore, a, "layer",
                                               tmp_path_factory.mktemp(f"layer-{a}")))


class _PerArch(dict):
    """Builds an arch's image when a test first asks for it, so a run of the
    aarch64 cases does not wait for the arm kernel's compile."""

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, arch):
        self[arch] = self._make(arch)
        return self[arch]


def _release(images, kernel, arch):
    if kernel == "debian":
        from armvm_oe.testing import debian
        return debian.kernel(arch)[2]
    return layerkernel.release(layerkernel.build(arch).with_name("config").read_text())


@pytest.fixture(scope="module", params=["debian", "layer"])
def images(request):
    fixture = "debian_kernel_images" if request.param == "debian" else "layer_kernel_images"
    return request.param, request.getfixturevalue(fixture)


@pytest.mark.oecore
@pytest.mark.nightly
@pytest.mark.parametrize("arch", ARCHES)
def test_layer_kernel_image_is_compliant(layer_kernel_images, arch):
    report = _verify(layer_kernel_images[arch])
    fails = [f for f in report["findings"] if f["result"] != "pass"]
    assert report["compliant"] and not fails, fails
    assert report["kernel"]["release"] == _release(layer_kernel_images, "layer", arch), report["kernel"]


@pytest.mark.oecore
@pytest.mark.boot
@pytest.mark.nightly
@pytest.mark.parametrize("arch", ARCHES)
def test_full_matrix(images, arch, tmp_path):
    kernel, imgs = images
    rc, report, err = _boot(imgs[arch], tmp_path, "--arch", arch, "--jobs", "1",
                            "--timeout", "900", timeout=4 * 3600)
    cells = _assert_cells(rc, report, err, arch, _release(imgs, kernel, arch), 9)
    combos = {(c["facts"]["gic"], c["params"]["virtio"], c["facts"]["tty"])
              for c in cells if not c["name"].endswith("-reboot")}
    assert combos == {(g, v, t) for g in "23" for v in ("pci", "mmio") for t in ("ttyAMA0", "hvc0")}


@pytest.mark.oecore
@pytest.mark.xen
@pytest.mark.nightly
def test_xen_dom0(images, tmp_path):
    kernel, imgs = images
    rc, report, err = _boot(imgs["aarch64"], tmp_path, "--arch", "aarch64", "--hypervisor", "xen",
                            "--timeout", "900")
    (cell,) = _assert_cells(rc, report, err, "aarch64", _release(imgs, kernel, "aarch64"), 1)
    # the image's kernel and root filesystem as dom0, Xen's PV drivers bound
    assert cell["facts"]["type"] == "xen" and cell["facts"]["tty"] == "/dev/hvc0", cell["facts"]
    assert {"vbd", "vif"} <= set(cell["facts"]["drivers"].split()), cell["facts"]


@pytest.mark.oecore
@pytest.mark.xen
@pytest.mark.nightly
def test_xen_domu(images, tmp_path):
    _xen_host()
    kernel, imgs = images
    rc, report, err = _boot(imgs["aarch64"], tmp_path, "--arch", "aarch64", "--hypervisor", "xen",
                            "--xen-guest", "domu", "--timeout", "2400", timeout=3600)
    (cell,) = _assert_cells(rc, report, err, "aarch64", _release(imgs, kernel, "aarch64"), 1)
    assert cell["params"]["mode"] == "domU" and cell["facts"]["domU_disk"] == "xvda", cell
