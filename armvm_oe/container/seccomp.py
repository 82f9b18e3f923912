"""The seccomp profile for build containers.

Docker's default profile refuses unshare(CLONE_NEWUSER) to processes without
CAP_SYS_ADMIN. bitbake uses exactly that (bb.utils.disable_network) to run
tasks without network access; refused, it silently runs them with network,
so a recipe fetching outside do_fetch goes unnoticed (doctor check
host.userns-unavailable). This profile allows system calls by default and
refuses the ones a build never needs and that widen the kernel attack surface
from inside a user namespace: kernel modules, kexec, reboot, clocks, swap,
accounting, the kernel keyring, BPF, perf, userfaultfd, handle-based opens,
the new mount API and legacy/obsolete calls. Capabilities stay Docker's
default set; no privilege is added.
"""

from __future__ import annotations

import json

DENIED = sorted({
    "init_module", "finit_module", "delete_module", "create_module", "query_module",
    "get_kernel_syms", "kexec_load", "kexec_file_load", "reboot",
    "settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime",
    "clock_adjtime64", "adjtimex", "swapon", "swapoff", "acct", "syslog",
    "add_key", "keyctl", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "open_by_handle_at", "name_to_handle_at", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "pivot_root", "iopl", "ioperm",
    "uselib", "lookup_dcookie", "nfsservctl", "vm86", "vm86old", "quotactl",
    "quotactl_fd", "fanotify_init", "kcmp", "process_vm_writev",
})


def profile() -> dict:
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                          "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": DENIED, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }


def security_opt(info=None) -> str:
    """The ``--security-opt`` value for the engine ``info`` describes.

    Docker's API takes the profile's JSON itself. Podman's Docker-compatible
    API (4.3, Debian 12) takes only a file name ("opening seccomp profile
    failed: open {...}: file name too long"), so for podman the profile is
    written to the cache, named by its content, and that path is given (the
    engine reads it on this host: DOCKER_HOST is a local socket)."""
    text = json.dumps(profile(), separators=(",", ":"))
    if info is None or not info.is_podman:
        return "seccomp=" + text
    import hashlib
    import os

    from armvm_oe import lib

    d = lib.cache_dir() / "seccomp"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"armvm-oe-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    if not path.is_file() or path.read_text() != text:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        os.replace(tmp, path)
    return f"seccomp={path}"
