"""``python3 -m armvm_oe.xen IMAGE [--xen PATH] [--timeout S] [--log-dir D] [--xen-guest domu]``:
the Xen cell on its own, for development; users run
``armvm-oe test IMAGE --hypervisor xen``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from armvm_oe.boottest.result import summary_table, write_junit
from armvm_oe.xen import run_xen_cell


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m armvm_oe.xen")
    p.add_argument("image", type=Path)
    p.add_argument("--arch", default="aarch64")
    p.add_argument("--xen", type=Path, default=None)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--log-dir", type=Path, default=Path("armvm-xen-logs"))
    p.add_argument("--junit", type=Path)
    p.add_argument("--json", action="store_true")
    p.add_argument("--xen-guest", choices=("dom0", "domu"), default="dom0")
    p.add_argument("--login", default="root", help="domu only: USER[:PASSWORD] in the domU")
    a = p.parse_args(argv)
    if a.xen_guest == "domu":
        from armvm_oe.qemu import Login
        from armvm_oe.xen.domu import run_domu_cell
        cell = run_domu_cell(a.image, arch=a.arch, xen_path=a.xen, log_dir=a.log_dir,
                             timeout=max(a.timeout, 900), login=Login.parse(a.login))
    else:
        cell = run_xen_cell(a.image, arch=a.arch, xen_path=a.xen, timeout=a.timeout,
                            log_dir=a.log_dir)
    if a.junit:
        write_junit([cell], a.junit)
    if a.json:
        json.dump(cell.as_dict(), sys.stdout, indent=2, default=str)
        print()
    else:
        print(summary_table([cell]))
        for c in cell.checks:
            print(f"  [{'ok' if c.ok else 'FAIL'}] {c.req}: {c.message}")
        if cell.status not in ("pass",):
            print(cell.message)
    return {"pass": 0, "skip": 0, "fail": 1}.get(cell.status, 2)


if __name__ == "__main__":
    sys.exit(main())
