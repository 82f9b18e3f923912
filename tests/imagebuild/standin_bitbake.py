#!/usr/bin/env python3
"""Recording stand-in for `bitbake` (test fixture; a real build takes hours).

kas sources the fake poky's oe-init-build-env, writes conf/local.conf and
conf/bblayers.conf and runs this as `bitbake -c build <target>` in the build
directory. It records its argv, cwd, the scale-out environment and the conf
files to standin-bitbake.json, prints knotty's real output formats (copied
from bitbake 2.8's lib/bb/ui/knotty.py, lib/bb/runqueue.py and oe-core's
sstate/base classes) and writes a deploy tree from the payload directory.

Mode: STANDIN_MODE = "ok" | "fetch-failure" | "slow" in conf/local.conf.

The payload is read from PAYLOAD (a host path, --host builds) or, when that
is not visible (inside the build container), from $DL_DIR/standin-payload,
which the containerized test fills: bitbake gets its inputs from DL_DIR too.
"""
import json
import os
import re
import shutil
import sys
from pathlib import Path
import time

PAYLOAD = "@PAYLOAD@"
CORE = "@CORE@"


def out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def bmap(image, dest):
    """A bmap of the image's data ranges (SEEK_DATA/SEEK_HOLE, 4 KiB blocks)."""
    import hashlib
    size = os.path.getsize(image)
    bs = 4096
    ranges = []
    with open(image, "rb") as f:
        fd = f.fileno()
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            first, last = start // bs, (end - 1) // bs
            f.seek(first * bs)
            h = hashlib.sha256(f.read((last - first + 1) * bs)).hexdigest()
            ranges.append((first, last, h))
            pos = end
    mapped = sum(b - a + 1 for a, b, _ in ranges)
    lines = ['<?xml version="1.0" ?>', '<bmap version="2.0">',
             f"    <ImageSize> {size} </ImageSize>", f"    <BlockSize> {bs} </BlockSize>",
             f"    <BlocksCount> {(size + bs - 1) // bs} </BlocksCount>",
             f"    <MappedBlocksCount> {mapped} </MappedBlocksCount>",
             "    <ChecksumType> sha256 </ChecksumType>", "    <BlockMap>"]
    for a, b, h in ranges:
        rng = f"{a}-{b}" if b > a else f"{a}"
        lines.append(f'        <Range chksum="{h}"> {rng} </Range>')
    lines += ["    </BlockMap>", "</bmap>"]
    with open(dest, "w") as f:
        f.write("\n".join(lines) + "\n")


def user_name():
    import pwd
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return None


def payload_dir():
    if os.path.isdir(PAYLOAD):
        return PAYLOAD
    return os.path.join(os.environ.get("DL_DIR", "/nonexistent"), "standin-payload")


def graph_or_env(build, target, machine, mode):
    """bitbake -g (task-depends.dot, pn-buildlist in the cwd, as bitbake writes
    them) and bitbake -e virtual/kernel (two variables), for build --check.
    Mode "no-audit" leaves the kernel config audit out of the graph."""
    out("Loading cache...done.")
    out("Parsing of 921 .bb files complete (0 cached, 921 parsed). 1879 targets, 59 skipped, "
        "0 masked, 0 errors.")
    if "-e" in sys.argv:
        karch = "arm" if machine.endswith("-arm") else "aarch64"
        out(f'ARMVM_KARCH="{karch}"')
        out(f'SRC_URI="git://git.yoctoproject.org/linux-yocto.git;name=machine '
            f'file://armvm-kmeta;type=kmeta;destsuffix=armvm-kmeta '
            f'file://armvm-required-{karch}.list"')
        return 0
    nodes = [f"{target}.do_build", f"{target}.do_image_wic", "dosfstools-native.do_build",
             "grub-efi.do_build", "linux-yocto.do_build"]
    if mode != "no-audit":
        nodes.append("linux-yocto.do_armvm_kconfig_audit")
    with open(os.path.join(build, "task-depends.dot"), "w") as f:
        f.write("digraph depends {\n")
        for n in nodes:
            pn, task = n.split(".", 1)
            f.write(f'"{n}" [label="{pn} {task}\\n:1.0-r0\\n/x/{pn}_1.0.bb"]\n')
        f.write("}\n")
    with open(os.path.join(build, "pn-buildlist"), "w") as f:
        f.write("\n".join(sorted({n.split(".")[0] for n in nodes})) + "\n")
    out("NOTE: PN build list saved to 'pn-buildlist'")
    out("NOTE: Task dependencies saved to 'task-depends.dot'")
    return 0


def main():
    build = os.getcwd()
    payload = payload_dir()
    conf = open(os.path.join(build, "conf", "local.conf")).read()
    layers = open(os.path.join(build, "conf", "bblayers.conf")).read()
    m = re.search(r'^STANDIN_MODE\s*=\s*"([^"]*)"', conf, re.M)
    mode = m.group(1) if m else "ok"
    machine = re.search(r'^MACHINE\s*\?{0,2}=\s*"([^"]*)"', conf, re.M).group(1)
    target = [a for a in sys.argv[1:] if not a.startswith("-")][-1]
    if "-g" in sys.argv or "-e" in sys.argv:
        return graph_or_env(build, target, machine, mode)
    record = {"argv": sys.argv, "cwd": build, "mode": mode, "machine": machine,
              "pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(),
              "hostname": os.uname().nodename, "payload": payload,
              # where it ran: the engine's marker file and PID 1 (docker-init
              # with init=True in the container, the host's init otherwise)
              "dockerenv": os.path.exists("/.dockerenv"),
              "pid1": open("/proc/1/comm").read().strip(),
              "user": user_name(),
              "env": {k: v for k, v in os.environ.items()
                      if k.startswith(("ARMVM_", "BB_", "DL_DIR", "SSTATE", "KAS_"))},
              "local_conf": conf, "bblayers_conf": layers}
    mirror = os.environ.get("ARMVM_SSTATE_MIRROR", "")
    if mirror.startswith("file://"):
        # what bitbake's sstate fetcher would see of a file:// mirror
        d = mirror[len("file://"):]
        record["sstate_mirror"] = {"path": d, "entries": sorted(os.listdir(d)),
                                   "writable": os.access(d, os.W_OK)}
    # oe-core's sanity checker creates a file in DL_DIR and SSTATE_DIR (real
    # bitbake stops here when it cannot, with the same message)
    record["can_write"] = {}
    for var in ("DL_DIR", "SSTATE_DIR"):
        d = os.environ.get(var) or os.path.join(build, "downloads" if var == "DL_DIR"
                                                else "sstate-cache")
        try:
            os.makedirs(d, exist_ok=True)
            probe = os.path.join(d, f".standin-probe-{os.getpid()}")
            open(probe, "w").close()
            os.unlink(probe)
            record["can_write"][var] = True
        except OSError as exc:
            record["can_write"][var] = f"{type(exc).__name__}: {exc}"
    with open(os.path.join(build, "standin-bitbake.json"), "w") as f:
        json.dump(record, f, indent=1)
    bad = [v for v, ok in record["can_write"].items() if ok is not True]
    if bad:
        out("ERROR:  OE-core's config sanity checker detected a potential misconfiguration.")
        out("    Either fix the cause of this error or at your own risk disable the checker "
            "(see sanity.conf).")
        out("    Following is the list of potential problems / advisories:")
        out("")
        for v in bad:
            out(f"    Failed to create a file in {v}: Permission denied.")
        out("")
        out("Summary: There was 1 ERROR message, returning a non-zero exit code.")
        return 1
    recipe = f"{CORE}/meta/recipes-core/images/core-image-minimal.bb"
    out("Loading cache...done.")
    out("Loaded 1880 entries from dependency cache.")
    out("Parsing recipes...done.")
    out("Parsing of 921 .bb files complete (918 cached, 3 parsed). 1880 targets, 62 skipped, "
        "0 masked, 0 errors.")
    out("NOTE: Resolving any missing task queue dependencies")
    out("")
    out("Build Configuration:")
    for k, v in (("BB_VERSION", "2.8.1"), ("BUILD_SYS", "x86_64-linux"),
                 ("NATIVELSBSTRING", "universal"), ("TARGET_SYS", "aarch64-poky-linux"),
                 ("MACHINE", machine), ("DISTRO", "poky"), ("DISTRO_VERSION", "5.0.15"),
                 ("TUNE_FEATURES", "aarch64 armv8a"), ("TARGET_FPU", "")):
        out('%-20s = "%s"' % (k, v))
    out("")
    out("Sstate summary: Wanted 12 Local 8 Mirrors 0 Missed 4 Current 40 (66% match, 92% complete)")
    out("Initialising tasks...done.")
    out("NOTE: Executing SetScene Tasks")
    for i in range(1, 9):
        out(f"NOTE: Running setscene task {i} of 8 ({recipe}:do_populate_sysroot_setscene)")
    out("NOTE: Executing Tasks")
    total = 12
    tasks = ["do_fetch", "do_unpack", "do_patch", "do_configure", "do_compile", "do_install",
             "do_rootfs", "do_image", "do_image_wic", "do_image_complete",
             "do_populate_lic_deploy", "do_build"]
    for i, t in enumerate(tasks, 1):
        kind = "noexec task" if t == "do_build" else "task"
        out(f"NOTE: Running {kind} {i} of {total} ({CORE}/../armvm-oe/meta-armvm/recipes-core/"
            f"images/{target}.bb:{t})")
        if mode == "slow":
            time.sleep(1.0)
        if mode == "fetch-failure" and t == "do_fetch":
            url = "https://downloads.example.invalid/armvm/firmware-1.0.tar.gz"
            out(f"ERROR: {target}-1.0-r0 do_fetch: Fetcher failure for URL: '{url}'. "
                "Unable to fetch URL from any source.")
            tlog = Path(build) / "tmp" / "work" / f"{machine}-poky-linux" / target / "1.0" / \
                "temp" / "log.do_fetch.4242"
            tlog.parent.mkdir(parents=True, exist_ok=True)
            # the task's own log, as bitbake leaves it: the real reason is here
            tlog.write_text(f"DEBUG: Executing python function base_do_fetch\n"
                            f"ERROR: Fetcher failure: Unable to resolve host "
                            f"downloads.example.invalid\nERROR: Fetcher failure for URL: "
                            f"'{url}'. Unable to fetch URL from any source.\n")
            out(f"ERROR: Logfile of failure stored in: {tlog}")
            out(f"ERROR: Task ({CORE}/../armvm-oe/meta-armvm/recipes-core/images/{target}.bb:"
                "do_fetch) failed with exit code '1'")
            out("NOTE: Tasks Summary: Attempted 1 tasks of which 0 didn't need to be rerun "
                "and 1 failed.")
            out("")
            out("Summary: 1 task failed:")
            out(f"  {CORE}/../armvm-oe/meta-armvm/recipes-core/images/{target}.bb:do_fetch")
            out("Summary: There were 2 ERROR messages, returning a non-zero exit code.")
            return 1
    deploy = os.path.join(build, "tmp", "deploy", "images", machine)
    os.makedirs(deploy, exist_ok=True)
    stamp = "20260101120000"
    wic = f"{target}-{machine}.rootfs-{stamp}.wic"
    shutil.copyfile(os.path.join(payload, "image.wic"), os.path.join(deploy, wic))
    bmap(os.path.join(deploy, wic), os.path.join(deploy, wic + ".bmap"))
    for link, dest in ((f"{target}-{machine}.rootfs.wic", wic),
                       (f"{target}-{machine}.rootfs.wic.bmap", wic + ".bmap")):
        os.symlink(dest, os.path.join(deploy, link))
    kname = f"Image--6.6.23+git0+a1b2c3d4e5-r0-{machine}-{stamp}.bin"
    shutil.copyfile(os.path.join(payload, "Image"), os.path.join(deploy, kname))
    os.symlink(kname, os.path.join(deploy, "Image"))
    os.symlink(kname, os.path.join(deploy, f"Image-{machine}.bin"))
    shutil.copyfile(os.path.join(payload, "grub-efi-bootaa64.efi"),
                    os.path.join(deploy, "grub-efi-bootaa64.efi"))
    if os.path.exists(os.path.join(payload, "virt.dtb")):
        shutil.copyfile(os.path.join(payload, "virt.dtb"), os.path.join(deploy, "virt.dtb"))
    out(f"NOTE: Tasks Summary: Attempted {total} tasks of which 0 didn't need to be rerun and "
        "all succeeded.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        out("NOTE: Sending SIGTERM to remaining 1 tasks")
        sys.exit(1)
