"""Fixtures for the build orchestration tests: a local bare "poky" whose
oe-init-build-env and bitbake/bin/bitbake are a recording stand-in, a project
repository with a kas config pinned (lock file) to it, and a payload of real
artifacts (the fixture builder's disk image, Debian's arm64 kernel, a GRUB
EFI binary made by grub-mkimage, a QEMU-dumped DTB)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

INIT_ENV = r"""# Stand-in for poky's oe-init-build-env (test fixture): what kas needs
# from it is PATH with bitbake/bin, BUILDDIR, the conf dir and the cwd.
if [ -z "$ZSH_NAME" ] && [ "$0" = "./oe-init-build-env" ]; then
    echo "Error: This script needs to be sourced. Please run as '. ./oe-init-build-env'"
    exit 1
fi
OEROOT="$(pwd)"
BUILDDIR="$(realpath -m "${1:-build}")"
export BUILDDIR
export PATH="$OEROOT/bitbake/bin:$OEROOT/scripts:$PATH"
export BBPATH="$BUILDDIR"
export BB_ENV_PASSTHROUGH_ADDITIONS="MACHINE DISTRO TCMODE TCLIBC HTTP_PROXY http_proxy HTTPS_PROXY https_proxy FTP_PROXY ftp_proxy FTPS_PROXY ftps_proxy ALL_PROXY all_proxy NO_PROXY no_proxy SSH_AGENT_PID SSH_AUTH_SOCK BB_SRCREV_POLICY SDKMACHINE BB_NUMBER_THREADS BB_NO_NETWORK PARALLEL_MAKE GIT_PROXY_COMMAND SOCKS5_PASSWD SOCKS5_USER SCREENDIR STAMPS_DIR BBPATH_EXTRA BB_SETSCENE_ENFORCE BB_LOGCONFIG"
mkdir -p "$BUILDDIR/conf"
cd "$BUILDDIR"
"""

LAYER_CONF = """BBPATH .= ":${{LAYERDIR}}"
BBFILE_COLLECTIONS += "{name}"
BBFILE_PATTERN_{name} = "^${{LAYERDIR}}/"
BBFILE_PRIORITY_{name} = "{prio}"
LAYERSERIES_COMPAT_{name} = "scarthgap"
{extra}"""


def git(*args, cwd=None):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


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


def make_project(root: Path, poky_url: str, sha: str, mode: str = "ok") -> Path:
    """A git repository like armvm-oe's: kas config + lock + overlay + layer."""
    proj = root / "project"
    (proj / "kas").mkdir(parents=True)
    (proj / "kas" / "test-aarch64.yml").write_text(f"""\
header:
  version: 14
distro: poky
machine: armvm-aarch64
target:
  - armvm-image
repos:
  armvm-oe:
    layers:
      meta-armvm:
  poky:
    url: {poky_url}
    branch: scarthgap
    layers:
      meta:
      meta-poky:
      meta-yocto-bsp:
local_conf_header:
  standin: |
    STANDIN_MODE = "{mode}"
""")
    (proj / "kas" / "test-aarch64.lock.yml").write_text(f"""\
header:
  version: 14
overrides:
  repos:
    poky:
      commit: {sha}
""")
    shutil.copy(ROOT / "kas" / "scaleout.yml", proj / "kas" / "scaleout.yml")
    shutil.copytree(ROOT / "meta-armvm", proj / "meta-armvm", symlinks=True)
    git("init", "-q", "-b", "main", cwd=proj)
    git("add", "-A", cwd=proj)
    git("commit", "-q", "-m", "project", cwd=proj)
    return proj


@pytest.fixture
def project(tmp_path, fake_poky):
    url, sha = fake_poky
    return make_project(tmp_path, url, sha)


def skip_root() -> list[str]:
    """bitbake refuses root and the doctor says so (host.root, fatal); the
    stand-in does not care, so tests running as root skip that one check."""
    return ["--skip-check", "host.root"] if os.getuid() == 0 else []
