"""What oeqa, labgrid and tuxrun check in a booted guest beyond "it came
up": systemd's own verdict, the network, and a driver for every device the
firmware's FDT describes (pure: the shell probe as text, parsers, judges).

One shell round trip (:func:`probe_command`) asks the guest, with busybox
or coreutils commands only:

* **systemd** (when ``/run/systemd/system`` exists): ``systemctl
  is-system-running`` and the units ``systemctl --failed`` lists, once no
  start-up job but a device's is running (at most SYSTEMD_WAIT_S s; not
  ``--wait``: a getty on a console the cell does not have keeps a device
  job queued for 90 s, and waiting for it would cost every cell that);
* **network**: every NIC under ``/sys/class/net`` with its driver and
  state, the IPv4 addresses the kernel holds (``/proc/net/fib_trie``, no
  ``ip`` needed), whether sshd listens on port 22 (``/proc/net/tcp``),
  and a TCP connection to QEMU's user network (10.0.2.100:7, a
  ``guestfwd`` rule the host answers with the cell's token) through bash's
  ``/dev/tcp`` or ``nc``;
* **devices**: the logic of the kernel's
  tools/testing/selftests/dt/test_unprobed_devices.sh: every FDT node with
  a ``compatible`` and status okay (or no status) should be the
  ``of_node`` of a device with a bound ``driver`` under /sys/bus/*/devices;
  the node paths travel back and the host compares them.

Which unbound compatibles are expected, and which ones the spec requires
(a failure, under that requirement's id), is data:
``armvm_oe/data/dt-drivers.yaml``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from importlib import resources

from armvm_oe import requirements

# QEMU's user network (slirp defaults): the guest's DHCP range and the host side
USER_NET = ipaddress.ip_network("10.0.2.0/24")
GATEWAY = "10.0.2.2"
FWD_ADDR, FWD_PORT = "10.0.2.100", 7          # guestfwd: answered by the host with the token
SYSTEMD_WAIT_S = 60                            # bound on the start-up wait (guest side)

TAG = "armvm-oe''-h"           # split so an echoing console never shows the tag whole
def mark(name: str) -> str:
    """A timestamp in the guest without a fork (the shell's own read of
    /proc/uptime): the cost of each part, for benchmarks/boot.py."""
    return f"read up rest </proc/uptime; echo \"$P t={name}:$up\""


PROBE = "; ".join([
    f"P='{TAG}'",
    mark("systemd"),
    # systemd
    # wait (bounded) while a start-up job other than a device's still runs: a
    # service that fails a little after the login prompt is still seen, but a
    # getty waiting 90 s for a console the cell does not have is not waited for
    "if [ -d /run/systemd/system ]; then i=0; while [ $i -lt " + str(SYSTEMD_WAIT_S) + " ] &&"
    " systemctl list-jobs --no-legend 2>/dev/null | grep -v '[.]device ' | grep -q running;"
    " do sleep 1; i=$((i+1)); done; echo \"$P sd_waited=$i\";"
    f" echo \"$P sd_state=$(timeout {SYSTEMD_WAIT_S} systemctl is-system-running"
    " 2>/dev/null)\";"
    " systemctl --failed --no-legend --plain 2>/dev/null | while read u rest; do"
    " echo \"$P sd_failed=$u\"; done; else echo \"$P sd_state=none\"; fi",
    mark("network"),
    # network interfaces: name driver operstate
    "for i in /sys/class/net/*; do n=${i##*/}; [ $n = lo ] && continue;"
    " d=$(readlink $i/device/driver 2>/dev/null); echo \"$P nic=$n:${d##*/}:$(cat $i/operstate)\";"
    " done",
    "grep -B1 '/32 host LOCAL' /proc/net/fib_trie 2>/dev/null |"
    " grep -oE '[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+' |"
    " sed \"s|^|$P addr=|\"",
    "echo \"$P leases=$(ls -d /run/systemd/netif/leases/* /var/lib/dhcp/*.lease*"
    " /var/lib/dhclient/* /run/udhcpc.* 2>/dev/null | tr '\\n' ' ')\"",
    "grep -q ':0016 00000000:0000 0A' /proc/net/tcp /proc/net/tcp6 2>/dev/null &&"
    " echo \"$P sshd=yes\"",
    "if command -v bash >/dev/null 2>&1; then"
    f" echo \"$P tcp=$(timeout 10 bash -c 'exec 3<>/dev/tcp/{FWD_ADDR}/{FWD_PORT};"
    " head -n 1 <&3' 2>&1 | head -n 1)\";"
    " elif command -v nc >/dev/null 2>&1; then"
    # (stdin open for a moment: a small nc quits when its stdin ends)
    f" echo \"$P tcp=$(sleep 1 | timeout 10 nc {FWD_ADDR} {FWD_PORT} 2>&1 | head -n 1)\";"
    " else echo \"$P tcp=no-client\"; fi",
    "grep -v '^IP' /proc/net/arp 2>/dev/null | while read a x y m rest; do"
    " echo \"$P arp=$a $m\"; done",
    mark("devices"),
    # devices (test_unprobed_devices.sh): compatible and status of every node,
    # the of_node of every device and the devices with a driver
    "DT=/sys/firmware/devicetree/base",
    "if [ -d $DT ]; then find $DT -name compatible -exec grep -a -H . {} + 2>/dev/null |"
    " tr '\\000' ' ' | sed \"s|^$DT|$P compat=|\";"
    " find $DT -name status -exec grep -a -H . {} + 2>/dev/null | tr '\\000' ' ' |"
    " sed \"s|^$DT|$P status=|\";"
    " ls -l /sys/bus/*/devices/*/of_node 2>/dev/null | sed -n"
    " \"s|.* /sys/bus/\\([^/]*\\)/devices/\\([^ ]*\\)/of_node -> .*devicetree/base\\(.*\\)|"
    "$P of=\\1/\\2 \\3|p\";"
    " ls -d /sys/bus/*/devices/*/driver 2>/dev/null | sed"
    " \"s|^/sys/bus/\\([^/]*\\)/devices/\\(.*\\)/driver|$P drv=\\1/\\2|\"; fi",
    mark("end"),
    "echo \"$P end=1\"",
])
_LINE_RE = re.compile(r"^armvm-oe-h (\w+)=(.*)$", re.M)


def probe_command() -> str:
    return PROBE


@dataclass
class Health:
    """The parsed answers of :data:`PROBE`."""

    sd_state: str | None = None             # running, degraded, ..., "none" (no systemd)
    sd_failed: list[str] = field(default_factory=list)
    sd_waited: int = 0                      # seconds the probe waited for start-up jobs
    nics: list[tuple[str, str, str]] = field(default_factory=list)   # (name, driver, state)
    addrs: list[str] = field(default_factory=list)
    leases: str = ""
    sshd: bool = False
    tcp: str = ""
    arp: list[tuple[str, str]] = field(default_factory=list)
    compat: dict = field(default_factory=dict)      # node path -> compatible strings
    status: dict = field(default_factory=dict)      # node path -> status
    of_nodes: dict = field(default_factory=dict)    # bus/device -> node path
    drivers: set = field(default_factory=set)       # bus/device with a driver
    complete: bool = False
    marks: list = field(default_factory=list)      # (part, guest uptime in s)

    def costs(self) -> dict:
        """Seconds each part took in the guest (systemd, network, devices)."""
        return {a: round(t2 - t1, 2) for (a, t1), (_, t2) in zip(self.marks, self.marks[1:])}


def parse(text: str) -> Health:
    h = Health()
    for key, val in _LINE_RE.findall(text.replace("\r", "")):
        val = val.strip()
        if key == "sd_state":
            h.sd_state = val or "unknown"
        elif key == "sd_waited":
            h.sd_waited = int(val) if val.isdigit() else 0
        elif key == "sd_failed":
            h.sd_failed.append(val)
        elif key == "nic":
            parts = (val.split(":") + ["", "", ""])[:3]
            h.nics.append(tuple(p.strip() for p in parts))
        elif key == "addr":
            if val not in h.addrs and not val.startswith("127."):
                h.addrs.append(val)
        elif key == "leases":
            h.leases = val
        elif key == "sshd":
            h.sshd = True
        elif key == "tcp":
            h.tcp = val
        elif key == "arp":
            a, _, m = val.partition(" ")
            h.arp.append((a, m))
        elif key in ("compat", "status"):
            path, _, v = val.partition(":")
            node = path.rsplit("/", 1)[0]          # .../<node>/compatible -> /<node>
            getattr(h, key)[node or "/"] = v.split()
        elif key == "of":
            dev, _, node = val.partition(" ")
            h.of_nodes[dev] = node.strip() or "/"
        elif key == "drv":
            h.drivers.add(val)
        elif key == "t":
            name, _, up = val.partition(":")
            try:
                h.marks.append((name, float(up)))
            except ValueError:
                pass
        elif key == "end":
            h.complete = True
    return h


# -- systemd -----------------------------------------------------------------
def judge_systemd(h: Health) -> tuple[bool | None, str]:
    """(ok, message); ok None: no systemd in the guest (nothing to judge)."""
    if h.sd_state in (None, "none"):
        return None, "no systemd in the guest"
    if h.sd_state == "running":
        return True, "systemctl is-system-running: running (no failed unit)"
    if h.sd_state in ("starting", "initializing") and not h.sd_failed:
        return True, (f"systemctl is-system-running: {h.sd_state} (jobs still queued at the "
                      "end of the cell), no failed unit so far")
    failed = ", ".join(h.sd_failed[:8]) or "none listed"
    return False, (f"systemctl is-system-running: {h.sd_state}; failed units (systemctl "
                   f"--failed): {failed}")


# -- network -----------------------------------------------------------------
NIC_DRIVERS = {"qemu": ("virtio_net",), "xen": ("vif", "xen-netfront", "xen_netfront")}


def judge_network(h: Health, token: str, hypervisor: str = "qemu") -> dict:
    """The network columns: ``nic`` (a NIC with the expected driver),
    ``dhcp`` (an address of QEMU's user network on it), ``host`` (the TCP
    connection to the host side answered with ``token``). Each is
    (ok, message); plus ``facts`` for --json."""
    want = NIC_DRIVERS.get(hypervisor, NIC_DRIVERS["qemu"])
    nics = [n for n in h.nics if n[1] in want]
    facts = {"nics": [f"{n[0]} ({n[1] or 'no driver'}, {n[2]})" for n in h.nics], "addresses": h.addrs,
             "tcp_reply": h.tcp, "sshd": h.sshd}
    out = {"facts": facts}
    if nics:
        out["nic"] = (True, f"{', '.join(n[0] for n in nics)} ({nics[0][1]}, {nics[0][2]})")
    else:
        others = ", ".join(f"{n[0]} ({n[1] or 'no driver'})" for n in h.nics) or "none"
        out["nic"] = (False, f"no network interface driven by {'/'.join(want)} (interfaces: "
                             f"{others}): the NIC's driver is missing or did not bind")
    user = [a for a in h.addrs if _in(a, USER_NET)]
    facts["dhcp"] = user[0] if user else None
    if user:
        out["dhcp"] = (True, f"{user[0]} from QEMU's user-network DHCP server"
                             + (f" (lease files: {h.leases.strip()})" if h.leases.strip() else ""))
    else:
        out["dhcp"] = (False, "no address of QEMU's user network (10.0.2.0/24) on any interface "
                              f"(addresses: {', '.join(h.addrs) or 'none'}): the guest did not "
                              "get a DHCP lease (no DHCP client configured, or no NIC)")
    if h.tcp == f"armvm-net-{token}":
        out["host"] = (True, f"TCP connection to {FWD_ADDR}:{FWD_PORT} on QEMU's user network "
                             "answered by the host")
    elif h.tcp == "no-client":
        gw = [m for a, m in h.arp if a == GATEWAY and m != "00:00:00:00:00:00"]
        out["host"] = (bool(gw), f"no bash or nc in the guest for a TCP test; the gateway "
                                 f"{GATEWAY} is {'in' if gw else 'not in'} the ARP table")
    else:
        out["host"] = (False, f"no answer from the host side of QEMU's user network "
                              f"({FWD_ADDR}:{FWD_PORT}): {h.tcp[:100] or 'no output'}")
    return out


def _in(addr: str, net) -> bool:
    try:
        return ipaddress.ip_address(addr) in net
    except ValueError:
        return False


# -- devices -----------------------------------------------------------------
@dataclass(frozen=True)
class DtRule:
    match: str                 # regex on one compatible string
    kind: str                  # "ignore" (no driver expected) | "require" (spec requirement)
    requirement: str = ""      # for require: an id from armvm_oe.requirements
    reason: str = ""


def dt_rules() -> list[DtRule]:
    import yaml
    ref = resources.files("armvm_oe") / "data" / "dt-drivers.yaml"
    data = yaml.safe_load(ref.read_text())
    out = []
    for e in data.get("ignore", []):
        out.append(DtRule(e["match"], "ignore", "", e["reason"]))
    for e in data.get("require", []):
        requirements.get(e["requirement"])          # KeyError on an id not in the table
        out.append(DtRule(e["match"], "require", e["requirement"], e.get("reason", "")))
    return out


def unbound_nodes(h: Health) -> list[tuple[str, list[str]]]:
    """(node path, compatibles) of every available FDT node with a
    compatible that no device with a driver has as its of_node (the
    selftest's set difference). The root node is the machine, not a device."""
    bound = {node for dev, node in h.of_nodes.items() if dev in h.drivers}
    out = []
    for node, comp in sorted(h.compat.items()):
        if node in ("/", ""):
            continue
        st = " ".join(h.status.get(node, ["okay"]))
        if st not in ("okay", "ok"):
            continue
        if node not in bound:
            out.append((node, comp))
    return out


def judge_devices(h: Health, rules: list[DtRule]) -> tuple[list[tuple[str, str]], list[str],
                                                           list[str]]:
    """(failures as (requirement, message), unbound devices noted, expected
    unbound ones). A node is expected unbound when any of its compatibles
    matches an ignore rule, required when one matches a require rule."""
    fails, noted, expected = [], [], []
    for node, comp in unbound_nodes(h):
        label = f"{node} ({', '.join(comp)})"
        req = next((r for r in rules if r.kind == "require"
                    and any(re.fullmatch(r.match, c) for c in comp)), None)
        ign = next((r for r in rules if r.kind == "ignore"
                    and any(re.fullmatch(r.match, c) for c in comp)), None)
        if req:
            fails.append((req.requirement, f"{label} has no driver bound: {req.reason}"))
        elif ign:
            expected.append(label)
        else:
            noted.append(label)
    return fails, noted, expected
