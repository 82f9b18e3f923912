"""Fixtures for the build orchestration tests: a local bare "poky" whose
oe-init-build-env and bitbake/bin/bitbake are a recording stand-in, a project
repository with a kas config pinned (lock file) to it, and a payload of real
artifacts (the fixture builder's disk image, Debian's arm64 kernel, a GRUB
EFI binary made by grub-mkimage, a QEMU-dumped DTB)."""

from __future__ import annotations

import subprocess

import pytest

from standinpoky import HERE, INIT_ENV, LAYER_CONF, git, make_project  # noqa: F401


@pytest.fixture(scope="session")
def payload(tmp_path_factory):
    """Real artifacts the stand-in deploys."""
    from armvm_oe.diskimage import make_grub_efi
    from armvm_oe.testing import debian
    from armvm_oe.testing.fixtures import build_image

    d = tmp_path_factory.mktemp("payload")
    (d / "image.wic").symlink_to(build_image("aarch64"))
    image, _config, _rel = debian.kernel("aarch64")
    (d / "Image").symlink_to(image)
    make_grub_efi("aarch64", debian.grub_modules("aarch64"), d / "grub-efi-bootaa64.efi")
    subprocess.run(["qemu-system-aarch64", "-M", f"virt,dumpdtb={d / 'virt.dtb'}",
                    "-cpu", "cortex-a57", "-nographic", "-nic", "none"], check=True,
                   capture_output=True, timeout=60)
    return d


@pytest.fixture(scope="session")
def fake_poky(tmp_path_factory, payload):
    """(bare repo URL, commit) of the stand-in poky."""
    base = tmp_path_factory.mktemp("poky")
    tree = base / "tree"
    (tree / "bitbake" / "bin").mkdir(parents=True)
    (tree / "bitbake" / "lib" / "bb").mkdir(parents=True)
    (tree / "oe-init-build-env").write_text(INIT_ENV)
    src = (HERE / "standin_bitbake.py").read_text()
    src = src.replace('"@PAYLOAD@"', repr(str(payload)))
    src = src.replace('"@CORE@"', "os.path.dirname(os.path.dirname(os.path.dirname("
                                  "os.path.abspath(__file__))))")
    bb = tree / "bitbake" / "bin" / "bitbake"
    bb.write_text(src)
    bb.chmod(0o755)
    (tree / "bitbake" / "lib" / "bb" / "__init__.py").write_text('__version__ = "2.8.1"\n')
    for name, coll, prio, extra in (
            ("meta", "core", 5, 'LAYERSERIES_CORENAMES = "scarthgap"\nLAYERVERSION_core = "15"\n'),
            ("meta-poky", "yocto", 5, ""), ("meta-yocto-bsp", "yoctobsp", 5, "")):
        (tree / name / "conf").mkdir(parents=True)
        (tree / name / "conf" / "layer.conf").write_text(
            LAYER_CONF.format(name=coll, prio=prio, extra=extra))
    git("init", "-q", "-b", "scarthgap", cwd=tree)
    git("add", "-A", cwd=tree)
    git("commit", "-q", "-m", "stand-in poky", cwd=tree)
    sha = git("rev-parse", "HEAD", cwd=tree)
    bare = base / "poky.git"
    git("clone", "-q", "--bare", str(tree), str(bare))
    return f"file://{bare}", sha


@pytest.fixture
def project(tmp_path, fake_poky):
    url, sha = fake_poky
    return make_project(tmp_path, url, sha)


