"""Debian's linux-source tree, extracted once into lib.cache_dir(), and the
kernel's own Kconfig tools to resolve a fragment the way linux-yocto does
(defconfig, merge_config.sh -m, olddefconfig)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from armvm_oe import lib

PACKAGE = "linux-source-6.1"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
KARCH = {"aarch64": ("arm64", "defconfig"), "arm": ("arm", "multi_v7_defconfig")}


def package_version() -> str | None:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def source_tree() -> Path:
    """The extracted tree, keyed by the package version (extracted once)."""
    version = package_version()
    if not version or not TARBALL.exists():
        raise FileNotFoundError(f"{PACKAGE} is not installed (apt-get install {PACKAGE})")
    dest = lib.cache_dir() / "kernel-src" / f"{PACKAGE}_{version}"
    if (dest / ".complete").exists():
        return dest / PACKAGE
    tmp = dest.with_name(dest.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # tar(1) with xz is about 5x faster than Python's tarfile here
    subprocess.run(["tar", "-C", str(tmp), "-xf", str(TARBALL)], check=True)
    (tmp / ".complete").write_text(version + "\n")
    try:
        os.rename(tmp, dest)
    except OSError:  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / PACKAGE


def resolve(tree: Path, arch: str, fragments: list[Path], out: Path) -> str:
    """Run defconfig + merge_config.sh -m + olddefconfig in ``out``.

    Returns the merge_config.sh output (it names every option whose requested
    value did not survive) and leaves ``out/.config``."""
    karch, defconfig = KARCH[arch]
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ARCH=karch, LC_ALL="C")
    make = ["make", "-s", "-C", str(tree), f"O={out}", f"ARCH={karch}"]
    subprocess.run(make + [defconfig], check=True, env=env, capture_output=True, text=True)
    merge = subprocess.run(
        ["bash", str(tree / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(out),
         str(out / ".config"), *(str(Path(f).resolve()) for f in fragments)],
        check=True, env=env, capture_output=True, text=True, cwd=tree)
    subprocess.run(make + ["olddefconfig"], check=True, env=env, capture_output=True, text=True)
    return merge.stdout + merge.stderr


def requested_not_final(fragments: list[Path], config_text: str) -> dict[str, tuple[str, str | None]]:
    """What merge_config.sh (without -m) warns about: every option a fragment
    asks for whose value is different in the final .config, by name:
    {name: (requested, final or None when absent)}."""
    import armvm_kconfig
    final = armvm_kconfig.parse_config(config_text)
    out = {}
    for frag in fragments:
        for name, value in armvm_kconfig.parse_config(Path(frag).read_text()).items():
            if final.get(name, "n" if value == "n" else None) != value:
                out[name] = (value, final.get(name))
    return out
