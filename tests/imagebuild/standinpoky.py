"""Helpers of the build tests (importable under a name of their own: every
test folder has a conftest.py, so ``from conftest import`` picks whichever
was imported first when tests/container and tests/imagebuild run together):
the stand-in poky's files, git, the project maker, the root skip."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


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


def skip_root() -> list[str]:
    """bitbake refuses root and the doctor says so (host.root, fatal); the
    stand-in does not care, so tests running as root skip that one check (on
    the host) and pass --allow-root (in the container: the build then runs as
    the work dir's owner; without it a root caller is refused)."""
    return ["--skip-check", "host.root", "--allow-root"] if os.getuid() == 0 else []
