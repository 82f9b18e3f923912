"""Kernel log health (armvm_oe.boottest.kernlog): incidents found in kernel
logs in the formats the kernel prints them (arm64 and arm32 WARN/Oops/BUG,
KASAN/KFENCE reports, driver probe failures, orphan cut-here markers and
call traces), ignore lists as data, and the shipped lists' own rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from armvm_oe.boottest import kernlog
from armvm_oe.errors import InputError

DATA = Path(__file__).parent / "data"

WARN_ARM64 = """\
[    1.234567] ------------[ cut here ]------------
[    1.234600] WARNING: CPU: 0 PID: 1 at drivers/base/core.c:3245 device_add+0x52c/0x6e0
[    1.234700] Modules linked in:
[    1.234800] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 6.1.0-13-arm64 #1  Debian 6.1.55-1
[    1.234900] Call trace:
[    1.235000]  device_add+0x52c/0x6e0
[    1.236000] ---[ end trace 0000000000000000 ]---
"""
OOPS_ARM32 = """\
[    3.100000] 8<--- cut here ---
[    3.100100] Unable to handle kernel NULL pointer dereference at virtual address 00000000
[    3.100300] Internal error: Oops: 5 [#1] SMP ARM
[    3.100400] Backtrace:
"""
KASAN = "[   12.000000] BUG: KASAN: slab-out-of-bounds in foo+0x1/0x2\n"
KFENCE = "[   12.000000] BUG: KFENCE: use-after-free read in bar+0x1/0x2\n"
PROBE_OLD = "[    2.000000] virtio_net: probe of virtio1 failed with error -22\n"
PROBE_NEW = "[    2.000000] rtc-pl031 9010000.pl031: probe with driver rtc-pl031 failed with error -16\n"
ORPHAN_TRACE = """\
[  121.000000] INFO: task kworker/0:1:12 blocked for more than 120 seconds.
[  121.000100] Call trace:
[  121.000200]  __switch_to+0xf0/0x170
"""


@pytest.mark.parametrize("text,kind,needle", [
    (WARN_ARM64, "warning", "WARNING: CPU: 0 PID: 1 at drivers/base/core.c:3245"),
    (OOPS_ARM32, "oops", "Internal error: Oops: 5 [#1] SMP ARM"),
    (KASAN, "bug", "BUG: KASAN: slab-out-of-bounds"),
    (KFENCE, "bug", "BUG: KFENCE: use-after-free"),
    (PROBE_OLD, "probe", "virtio_net: probe of virtio1 failed with error -22"),
    (PROBE_NEW, "probe", "rtc-pl031 9010000.pl031: probe with driver rtc-pl031 failed"),
    (ORPHAN_TRACE, "trace", "Call trace: (a call trace with no WARNING/BUG/Oops line before it; "
                            "next: __switch_to"),
], ids=["warn", "oops-arm32", "kasan", "kfence", "probe-old", "probe-new", "orphan-trace"])
def test_each_incident_is_found_once_with_its_line(text, kind, needle):
    # the same boot on two consoles and in dmesg: counted once
    found = kernlog.incidents(text + "\r\n" + text.replace("\n", "\r\n") + text)
    assert [i.kind for i in found] == [kind], found
    assert found[0].line.startswith(needle) and "[" not in found[0].line[:2]


def test_orphan_cut_here_is_an_incident():
    (inc,) = kernlog.incidents("[ 1.0] ------------[ cut here ]------------\n[ 1.1] hmm\n")
    assert inc.kind == "trace" and "no WARNING/BUG line after it" in inc.line


def test_clean_and_ordinary_lines_are_not_incidents():
    text = "\n".join([
        "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x411fd070]",
        "[    1.000000] virtio_blk virtio1: [vda] 4194304 512-byte logical blocks",
        "[  OK  ] Finished systemd-udev-trigger.service - Coldplug All udev Devices.",
        "WARNING: this is GRUB text on the console, not a kernel WARN",
        "[    2.0] EXT4-fs (vda2): mounted filesystem with ordered data mode.",
        "[    3.0] systemd[1]: Failed to look up module alias 'autofs4': not found",
        # the Debian armhf image's dmesg (a firmware file, not a probe failure)
        "[  128.768463] platform regulatory.0: Direct firmware load for regulatory.db failed "
        "with error -2",
    ])
    assert kernlog.incidents(text) == []


def test_ignore_list_turns_an_incident_into_a_note(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("- match: 'rtc-pl031 \\S+: probe with driver rtc-pl031 failed'\n"
                 "  reason: the firmware owns the RTC\n  seen: example\n")
    ig = kernlog.load("no-such-machine", [f])
    bad, noted = kernlog.judge(PROBE_NEW + WARN_ARM64, ig)
    assert [i.kind for i in bad] == ["warning"]
    assert noted[0].ignored_by.reason == "the firmware owns the RTC"
    assert noted[0].ignored_by.source == str(f)


@pytest.mark.parametrize("text,what", [
    ("match: x\n", "is not a list"),
    ("- match: x\n", "is not {match: REGEX, reason: TEXT}"),
    ("- {match: '(', reason: r}\n", "bad regular expression"),
    ("- [\n", "is not YAML"),
])
def test_malformed_ignore_list_is_a_one_paragraph_error(tmp_path, text, what):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as e:
        kernlog.load("qemu-virt-aarch64", [f])
    assert what in e.value.paragraph() and e.value.exit_code == 2 and e.value.fix


def test_dmesg_probe_output_is_read_back():
    out = ("armvm-oe-dmesg [    1.2] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x0/0x1\r\n"
           "armvm-oe-dmesg-end\r\n")
    assert kernlog.incidents(kernlog.dmesg_lines(out))[0].kind == "warning"
    # every incident line is one the guest-side grep -E lets through
    for text in (WARN_ARM64, OOPS_ARM32, KASAN, KFENCE, PROBE_OLD, PROBE_NEW, ORPHAN_TRACE,
                 "[ 9.0] Kernel panic - not syncing: x\n"):
        for inc in kernlog.incidents(text):
            assert re.search(kernlog.DMESG_PATTERN, inc.line), inc.line


@pytest.mark.parametrize("machine", ["qemu-virt-aarch64", "qemu-virt-arm"])
def test_shipped_lists_are_valid_and_each_entry_has_a_reason(machine):
    assert machine in kernlog.shipped_machines()
    entries = kernlog.load(machine)
    for e in entries:
        assert len(e.reason) > 20 and e.seen, e
        # an entry never hides a whole class of incident
        for generic in ("WARNING: CPU: 0 PID: 1 at x.c:1 f", "BUG: KASAN: x",
                        "Internal error: Oops: 5", "probe of x failed with error -5"):
            assert not e.hits(generic), (e.match, generic)


def test_fixture_logs_have_no_incident():
    """The busybox fixture's real consoles (Debian 6.1 kernels) are clean."""
    for log in sorted(DATA.glob("busybox-*.log")):
        assert kernlog.incidents(log.read_text()) == [], log.name
