"""The layer's own kernel, compiled outside bitbake for the boot tests.

Configuration: Debian's linux-source-6.1 tree, the arch defconfig, then
meta-armvm's generated fragment (recipes-kernel/linux/files/armvm-guest-
<arch>.cfg) through the kernel's own ``merge_config.sh -m`` and
``olddefconfig`` -- the same resolution tests/layer/test_kconfig.py audits.
Compilation: Debian's cross compilers, ``nice -n 19 make -j2`` of the boot
image only (every option the fragment asks for is built in, so no modules
are needed to boot). The result is cached in
``cache_dir()/layer-kernel/<key>`` where key hashes the resolved .config,
the source tree's package version and the compiler's version string (never
in the repository)::

    python3 -m armvm_oe.testing.layerkernel build aarch64   # prints the kernel's path

A build in progress leaves its objects in ``layer-kernel/obj-<key>`` so an
interrupted compile resumes; ``timings.json`` beside the kernel records how
long each step took (for the report and benchmarks only: nothing decides on
it)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from armvm_oe.lib import cache_dir

PACKAGE = "linux-source-6.1"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
LAYER = Path(__file__).resolve().parents[2] / "meta-armvm"
FRAGMENTS = LAYER / "recipes-kernel" / "linux" / "files"
# arch: (kernel ARCH, base defconfig, boot image target, its path under arch/<karch>/boot,
#        Debian cross-compiler prefix, its apt package)
ARCHES = {
    "aarch64": ("arm64", "defconfig", "Image", "aarch64-linux-gnu-", "gcc-aarch64-linux-gnu"),
    "arm": ("arm", "multi_v7_defconfig", "zImage", "arm-linux-gnueabihf-", "gcc-arm-linux-gnueabihf"),
}


class Missing(RuntimeError):
    """An input is not installed; the message names the apt package."""


def package_version() -> str | None:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def source_tree() -> Path:
    """Debian's linux-source tree, extracted once, keyed by the package version."""
    version = package_version()
    if not version or not TARBALL.exists():
        raise Missing(f"{PACKAGE} is not installed (apt-get install {PACKAGE})")
    dest = cache_dir() / "kernel-src" / f"{PACKAGE}_{version}"
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


def fragments(arch: str) -> list[Path]:
    """The layer's generated fragment for ``arch`` (wherever under
    recipes-kernel/linux/files the layer keeps it: files/ or a kmeta dir)."""
    found = sorted(FRAGMENTS.rglob(f"armvm-guest-{arch}.cfg"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one armvm-guest-{arch}.cfg under {FRAGMENTS}, "
                                f"found {len(found)}")
    return found


def resolve(tree: Path, arch: str, frags: list[Path], out: Path, cross: str = "") -> str:
    """defconfig + merge_config.sh -m + olddefconfig in ``out`` (leaves
    ``out/.config``); returns merge_config.sh's output."""
    karch, defconfig = ARCHES[arch][:2]
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, ARCH=karch, LC_ALL="C")
    if cross:
        env["CROSS_COMPILE"] = cross
    make = ["make", "-s", "-C", str(tree), f"O={out}", f"ARCH={karch}"]
    subprocess.run(make + [defconfig], check=True, env=env, capture_output=True, text=True)
    merge = subprocess.run(
        ["bash", str(tree / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(out),
         str(out / ".config"), *(str(Path(f).resolve()) for f in frags)],
        check=True, env=env, capture_output=True, text=True, cwd=tree)
    subprocess.run(make + ["olddefconfig"], check=True, env=env, capture_output=True, text=True)
    return merge.stdout + merge.stderr


def compiler_version(arch: str) -> str:
    cross, pkg = ARCHES[arch][3], ARCHES[arch][4]
    gcc = shutil.which(cross + "gcc")
    if not gcc:
        raise Missing(f"{cross}gcc is not installed (apt-get install {pkg})")
    return subprocess.run([gcc, "--version"], capture_output=True, text=True,
                          check=True).stdout.splitlines()[0]


def config_key(config_text: str, tree_version: str, compiler: str, target: str) -> str:
    """The cache key: what the kernel binary is a function of."""
    h = hashlib.sha256()
    for part in (config_text, tree_version, compiler, target):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:16]


def configure(arch: str, scratch: Path) -> tuple[str, str]:
    """The resolved .config text for ``arch`` and its cache key."""
    cross = ARCHES[arch][3]
    compiler = compiler_version(arch)
    tree = source_tree()
    resolve(tree, arch, fragments(arch), scratch, cross)
    text = (scratch / ".config").read_text()
    return text, config_key(text, package_version() or "", compiler, ARCHES[arch][2])


def release(config_text: str) -> str:
    """The kernel release (uname -r) of a resolved .config: the version in
    its header plus CONFIG_LOCALVERSION (the tarball has no git, so
    setlocalversion adds nothing else)."""
    m = re.search(r"^# Linux/\S+ (\S+) Kernel Configuration", config_text, re.M)
    if not m:
        raise ValueError("not a resolved kernel .config (no 'Linux/<arch> <version>' header)")
    local = re.search(r'^CONFIG_LOCALVERSION="([^"]*)"', config_text, re.M)
    return m.group(1) + (local.group(1) if local else "")


def build(arch: str, jobs: int = 2, log=None) -> Path:
    """The layer's kernel for ``arch`` (cached): the path of Image/zImage; a
    ``config`` and ``timings.json`` lie beside it."""
    target = ARCHES[arch][2]
    base = cache_dir() / "layer-kernel"
    base.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    tree = source_tree()
    t_tree = time.monotonic() - t0
    scratch = base / f".config-{arch}-{os.getpid()}"
    try:
        t1 = time.monotonic()
        text, key = configure(arch, scratch)
        t_config = time.monotonic() - t1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    final = base / key
    if (final / target).exists():
        return final / target
    from armvm_oe.testing.debian import _locked
    with _locked(f"layer-kernel-{key}"):      # one compile per key at a time
        if (final / target).exists():
            return final / target
        _compile(arch, key, text, tree, base, jobs, log,
                 {"extract_s": round(t_tree, 1), "config_s": round(t_config, 1)})
    return final / target


def _compile(arch: str, key: str, text: str, tree: Path, base: Path, jobs: int, log,
             timings: dict) -> None:
    karch, _defconfig, target, cross, _pkg = ARCHES[arch]
    final = base / key
    obj = base / f"obj-{key}"
    obj.mkdir(exist_ok=True)
    if (obj / ".config").exists() and (obj / ".config").read_text() != text:
        (obj / ".config").unlink()
    if not (obj / ".config").exists():
        (obj / ".config").write_text(text)
    env = dict(os.environ, ARCH=karch, CROSS_COMPILE=cross, LC_ALL="C",
               KBUILD_BUILD_TIMESTAMP="1970-01-01", KBUILD_BUILD_USER="armvm",
               KBUILD_BUILD_HOST="armvm-oe")
    make = ["nice", "-n", "19", "make", "-C", str(tree), f"O={obj}", f"ARCH={karch}",
            f"CROSS_COMPILE={cross}", f"-j{jobs}"]
    t2 = time.monotonic()
    out = open(log, "a") if log else subprocess.DEVNULL
    try:
        subprocess.run(make + ["olddefconfig"], check=True, env=env, stdout=out, stderr=out)
        if (obj / ".config").read_text() != text:
            raise RuntimeError("the .config changed between configure and compile")
        subprocess.run(make + [target], check=True, env=env, stdout=out, stderr=out)
    finally:
        if log:
            out.close()
    t_compile = time.monotonic() - t2
    tmp = base / f".{key}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    shutil.copy2(obj / "arch" / karch / "boot" / target, tmp / target)
    (tmp / "config").write_text(text)
    (tmp / "timings.json").write_text(json.dumps(dict(
        timings, arch=arch, key=key, compile_s=round(t_compile, 1), jobs=jobs), indent=1) + "\n")
    os.rename(tmp, final)
    shutil.rmtree(obj, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("build", "key") or argv[1] not in ARCHES:
        print("usage: python3 -m armvm_oe.testing.layerkernel build|key aarch64|arm [LOG]",
              file=sys.stderr)
        return 2
    if argv[0] == "key":
        scratch = cache_dir() / "layer-kernel" / f".config-{argv[1]}-{os.getpid()}"
        try:
            print(configure(argv[1], scratch)[1])
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return 0
    print(build(argv[1], log=argv[2] if len(argv) > 2 else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
