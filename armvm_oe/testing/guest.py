"""The guest side of the fixture images: a busybox initramfs that loads the
Debian kernel's modular drivers and finds ``root=PARTUUID=`` itself, and a
busybox root filesystem whose init reports what the guest saw.

Every line the boot tests read starts with ``ARMVM-FACT key=value``; the
last one is ``ARMVM-READY``, after which a root shell (prompt ``armvm# ``)
runs on every console the guest has (pl011 ``ttyAMA0``, virtio/Xen ``hvc0``),
the way Yocto's SERIAL_CONSOLES starts a getty on each."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from armvm_oe.lib import require_tool, run
from armvm_oe.testing.cpio import Cpio

# Drivers the Debian kernels build as modules (the armvm layer builds them in).
MODULES = ["crc32c_generic", "virtio_pci", "virtio_mmio", "virtio_blk", "virtio_net", "virtio_console",
           "virtio_balloon", "ext4", "efivarfs", "xen-blkfront", "xen-netfront"]

APPLETS = ("sh ash mount umount mkdir cat echo ls grep awk sed od tr modprobe insmod "
           "switch_root setsid sleep poweroff reboot halt uname readlink basename dirname "
           "dmesg printf stty hostname ps kill head tail cut wc find blkid mdev ip "
           "sync true false test [ [[ seq timeout rm cp mv hexdump dd chmod ln env "
           "nproc date df free stat xxd nc udhcpc ifconfig route").split()

FIND_ROOT = r'''
partuuid_of() {   # GPT unique GUID of partition $1 (e.g. vda2), read from the disk itself
    p=/sys/class/block/$1
    [ -f $p/partition ] || return 1
    n=$(cat $p/partition); disk=$(basename $(readlink -f $p/..))
    lba=$(od -A n -t u8 -j 584 -N 8 /dev/$disk | tr -d ' ')
    esz=$(od -A n -t u4 -j 596 -N 4 /dev/$disk | tr -d ' ')
    [ -n "$lba" ] && [ -n "$esz" ] || return 1
    set -- $(od -A n -t x1 -j $((lba * 512 + (n - 1) * esz + 16)) -N 16 /dev/$disk)
    echo "$4$3$2$1-$6$5-$8$7-$9${10}-${11}${12}${13}${14}${15}${16}" | tr a-f A-F
}
find_root() {     # root= as PARTUUID=, UUID-less /dev/ path
    case "$1" in
    PARTUUID=*)
        want=$(echo "${1#PARTUUID=}" | tr a-f A-F)
        for b in /sys/class/block/*; do
            b=${b##*/}
            [ "$(partuuid_of $b 2>/dev/null)" = "$want" ] && { echo /dev/$b; return 0; }
        done; return 1 ;;
    /dev/*) [ -b "$1" ] && echo "$1" ;;
    *) return 1 ;;
    esac
}
'''

INITRAMFS_INIT = r'''#!/bin/sh
export PATH=/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "ARMVM-INITRAMFS $(uname -r)"
for m in $(cat /etc/modules); do modprobe "$m" 2>/dev/null; done
''' + FIND_ROOT + r'''
root=; rootfstype=ext4
for a in $(cat /proc/cmdline); do
    case "$a" in root=*) root=${a#root=} ;; esac
done
dev=
for i in $(seq 1 100); do
    dev=$(find_root "$root") && [ -n "$dev" ] && break
    sleep 0.1
done
if [ -z "$dev" ]; then
    echo "ARMVM-ROOT-NOT-FOUND root=$root"
    ls /sys/class/block
    exec sh
fi
echo "ARMVM-FACT rootdev=$dev"
mkdir -p /newroot
mount -t $rootfstype "$dev" /newroot || { echo "ARMVM-ROOT-MOUNT-FAILED $dev"; exec sh; }
mount --move /dev /newroot/dev 2>/dev/null
umount /proc /sys 2>/dev/null
exec switch_root /newroot /sbin/init
'''

# What both fixture inits do first: the pseudo filesystems, efivarfs when
# the firmware offers it, a writable root.
_INIT_PRELUDE = r'''export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc 2>/dev/null; mount -t sysfs sys /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp 2>/dev/null
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
hostname armvm
mount -o remount,rw / 2>/dev/null
# the network as meta-armvm's image has it: DHCP on the NIC (busybox udhcpc,
# in the background; its script configures the lease)
mkdir -p /usr/share/udhcpc
printf '%s\n' '#!/bin/sh' 'case "$1" in deconfig) ifconfig $interface 0.0.0.0 up ;;' 'bound|renew)' \
  'ifconfig $interface $ip netmask ${subnet:-255.255.255.0} up' \
  '[ -n "$router" ] && route add default gw ${router%% *} dev $interface' \
  'echo "$ip" > /run/udhcpc.$interface ;; esac' > /usr/share/udhcpc/default.script
chmod 755 /usr/share/udhcpc/default.script; mkdir -p /run
ifconfig lo 127.0.0.1 up 2>/dev/null
for n in /sys/class/net/*; do n=${n##*/}; [ $n = lo ] && continue
    ifconfig $n up 2>/dev/null
    udhcpc -b -q -i $n -s /usr/share/udhcpc/default.script >/dev/null 2>&1 &
done
'''

SYSTEM_INIT = r'''#!/bin/sh
'''+_INIT_PRELUDE+r'''facts() {
    echo "ARMVM-FACT arch=$(uname -m)"
    echo "ARMVM-FACT kernel=$(uname -r)"
    echo "ARMVM-FACT console=$(cat /sys/class/tty/console/active 2>/dev/null)"
    echo "ARMVM-FACT tty=$1"
    if grep -q GICv3 /proc/interrupts; then g=3; elif grep -q GIC- /proc/interrupts; then g=2; else g=unknown; fi
    echo "ARMVM-FACT gic=$g"
    for d in /sys/bus/virtio/devices/virtio*; do
        [ -e "$d" ] || continue
        case "$(readlink -f $d)" in *pci*) bus=pci ;; *) bus=mmio ;; esac
        echo "ARMVM-FACT virtio=$(basename $d):$(cat $d/device):$bus"
    done
    echo "ARMVM-FACT cpus=$(grep -c ^processor /proc/cpuinfo)"
    echo "ARMVM-FACT mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
    echo "ARMVM-FACT efi=$([ -d /sys/firmware/efi ] && echo yes || echo no)"
    echo "ARMVM-FACT fdt=$([ -d /sys/firmware/devicetree/base ] && echo yes || echo no)"
    echo "ARMVM-FACT acpi=$([ -d /sys/firmware/acpi/tables ] && echo yes || echo no)"
    echo "ARMVM-FACT hypervisor=$(cat /sys/hypervisor/type 2>/dev/null || echo none)"
    echo "ARMVM-FACT xen_drivers=$(ls /sys/bus/xen/drivers 2>/dev/null | tr '\n' ' ')"
    echo "ARMVM-FACT root=$(awk '$2 == "/" {print $1}' /proc/mounts | tail -1)"
    echo "ARMVM-FACT cmdline=$(cat /proc/cmdline)"
    echo "ARMVM-READY"
}
started=
for t in ttyAMA0 hvc0; do
    [ -c /dev/$t ] || continue
    stty -F /dev/$t >/dev/null 2>&1 || continue
    started="$started $t"
    ( facts $t > /dev/$t 2>&1
      PS1='armvm# ' exec setsid sh -c "exec sh -i </dev/$t >/dev/$t 2>&1" ) &
done
[ -n "$started" ] || { facts console > /dev/console; exec sh </dev/console >/dev/console 2>&1; }
while true; do wait; sleep 1; done
'''


# The "login" guest: what a small installed system (and meta-armvm's
# busybox image) shows -- the kernel log, then "armvm login:" from a getty on
# every console, root with an empty password (Yocto's empty-root-password).
# It prints nothing of the protocol above: the boot tests must judge it from
# the kernel log and a login alone.
LOGIN_INIT = r'''#!/bin/sh
'''+_INIT_PRELUDE+r'''for t in ttyAMA0 hvc0; do
    [ -c /dev/$t ] || continue
    stty -F /dev/$t >/dev/null 2>&1 || continue
    ( while true; do setsid getty -L 0 $t vt100; sleep 1; done ) &
done
while true; do wait; sleep 1; done
'''
LOGIN_APPLETS = ("getty", "login")


def _busybox_tree(add_file, add_symlink, busybox: Path, extra=()) -> None:
    add_file("bin/busybox", busybox, 0o755)
    for a in APPLETS + list(extra):
        add_symlink(f"bin/{a}", "busybox")


def module_closure(mod_root: Path, names: list[str]) -> list[str]:
    """Relative .ko paths for ``names`` and everything they depend on, in
    load order, read from modules.dep (generated with the host's depmod)."""
    dep = {}
    for line in (mod_root / "modules.dep").read_text().splitlines():
        ko, _, deps = line.partition(":")
        dep[ko] = deps.split()
    by_name = {Path(k).name[:-3].replace("-", "_"): k for k in dep}
    out: list[str] = []

    def visit(ko):
        for d in dep.get(ko, []):
            visit(d)
        if ko not in out:
            out.append(ko)

    for n in names:
        ko = by_name.get(n.replace("-", "_"))
        if ko:
            visit(ko)
    return out


def plain_initramfs_init() -> str:
    """The initramfs init of the login guest: the same steps, ordinary
    messages instead of the ARMVM-* markers."""
    return (INITRAMFS_INIT.replace('echo "ARMVM-INITRAMFS', 'echo "initramfs:')
            .replace("ARMVM-FACT rootdev=", "initramfs: root is ")
            .replace("ARMVM-ROOT-NOT-FOUND", "initramfs: root device not found:")
            .replace("ARMVM-ROOT-MOUNT-FAILED", "initramfs: cannot mount root"))


def build_initramfs(kernel_root: Path, release: str, busybox: Path, out: Path,
                    plain: bool = False) -> Path:
    require_tool("depmod", "kmod", "index the kernel modules for the test initramfs")
    src_mods = kernel_root / "lib" / "modules" / release
    with tempfile.TemporaryDirectory() as tmp:
        # depmod writes into the tree: index a throwaway copy of the metadata
        tree = Path(tmp) / "lib" / "modules" / release
        tree.mkdir(parents=True)
        for item in src_mods.iterdir():
            if item.is_dir():
                (tree / item.name).symlink_to(item)   # the .ko files are only read
            else:
                shutil.copyfile(item, tree / item.name)
        run(["depmod", "-b", tmp, release])
        closure = module_closure(tree, MODULES)
        c = Cpio()
        for d in ("dev", "proc", "sys", "newroot", "etc", "bin", "sbin", "tmp"):
            c.dir(d)
        c.chardev("dev/console", 5, 1)
        c.chardev("dev/null", 1, 3, 0o666)
        _busybox_tree(c.file, c.symlink, busybox)
        c.file("init", (plain_initramfs_init() if plain else INITRAMFS_INIT).encode(), 0o755)
        c.file("etc/modules", ("\n".join(MODULES) + "\n").encode())
        kept = set(closure)
        dep_lines = [line for line in (tree / "modules.dep").read_text().splitlines()
                     if line.split(":")[0] in kept]
        base = f"lib/modules/{release}"
        c.file(f"{base}/modules.dep", ("\n".join(dep_lines) + "\n").encode())
        for ko in closure:
            c.file(f"{base}/{ko}", tree / ko)
        return c.write_gz(out)


def build_rootfs(dest: Path, busybox: Path, kernel_config: Path | None, release: str,
                 drop_options: tuple[str, ...] = (), init: str = "protocol") -> Path:
    """The root filesystem tree (made into ext4 by the caller)."""
    dest = Path(dest)
    for d in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "boot", "root", "mnt"):
        (dest / d).mkdir(parents=True, exist_ok=True)

    def add_file(rel, src, mode=0o644):
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, p)
        p.chmod(mode)

    def add_symlink(rel, target):
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.is_symlink():
            p.symlink_to(target)

    _busybox_tree(add_file, add_symlink, busybox, LOGIN_APPLETS if init == "login" else ())
    (dest / "sbin" / "init").write_text(LOGIN_INIT if init == "login" else SYSTEM_INIT)
    if init == "login":
        (dest / "etc" / "passwd").write_text("root::0:0:root:/root:/bin/sh\n")
        (dest / "etc" / "group").write_text("root:x:0:\n")
    (dest / "sbin" / "init").chmod(0o755)
    (dest / "etc" / "hostname").write_text("armvm\n")
    (dest / "etc" / "os-release").write_text('ID=armvm-fixture\nNAME="armvm-oe test fixture"\n')
    if kernel_config is not None:
        text = kernel_config.read_text()
        for opt in drop_options:
            text = re.sub(rf"^CONFIG_{opt}=.*$", f"# CONFIG_{opt} is not set", text, flags=re.M)
        (dest / "boot" / f"config-{release}").write_text(text)
    return dest

