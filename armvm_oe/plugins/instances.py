"""armvm-oe instances: list VM instances (their UEFI variable stores and
disk overlays), or renew one's variable store."""

from __future__ import annotations

import sys

from armvm_oe.errors import InputError

NAME = "instances"
ORDER = 43
HELP = "list VM instances and their UEFI variable stores; --reset-vars NAME renews one"
DESCRIPTION = (
    "List the VM instances 'armvm-oe run' created in the user data directory "
    "($ARMVM_DATA_DIR or $XDG_DATA_HOME/armvm-oe/instances): each owns a UEFI variable store "
    "(FW-VARSTORE) and a qcow2 overlay of its image. --reset-vars NAME renews an instance's "
    "variable store from the firmware template; nothing else ever deletes it.")
EXAMPLES = """\
armvm-oe instances
armvm-oe instances --json
armvm-oe instances --reset-vars armvm-image-armvm-aarch64
"""


def setup_parser(p):
    p.add_argument("--reset-vars", metavar="NAME",
                   help="renew NAME's UEFI variable store from its firmware's template")
    p.add_argument("--vars-template", metavar="VARS",
                   help="with --reset-vars: the template to copy (default: the one it was made from)")


def _size(n):
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.0f} TiB"


def run(args) -> int:
    from pathlib import Path

    from armvm_oe.qemu import InstanceStore
    from armvm_oe.qemu.instance import copy_vars
    from armvm_oe.ui import echo, emit_json, table

    store = InstanceStore()
    if args.reset_vars:
        inst = store.get(args.reset_vars)
        meta = inst.meta()
        if not meta:
            known = ", ".join(i.name for i in store.list()) or "none"
            raise InputError(f"there is no instance named '{args.reset_vars}'",
                             f"instances in {store.root}: {known}",
                             "Run 'armvm-oe instances' to list them")
        template = Path(args.vars_template or (meta.get("firmware") or {}).get("vars_template", ""))
        if not template.is_file():
            raise InputError(f"the variable-store template {template} does not exist",
                             "it is the file the instance's store was first copied from",
                             "Give --vars-template VARS")
        copy_vars(template, inst.vars_file)
        import time
        meta["vars_created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        inst.save_meta(meta)
        if args.json:
            emit_json({"reset": inst.name, "vars_file": str(inst.vars_file),
                       "template": str(template)})
        else:
            echo(f"instance {inst.name}: UEFI variable store renewed from {template}")
        return 0
    items = [i.summary() for i in store.list()]
    if args.json:
        emit_json({"root": str(store.root), "instances": items})
        return 0
    if not items:
        echo(f"no instances yet in {store.root} (armvm-oe run IMAGE creates one)",
             file=sys.stderr)
        return 0
    rows = [[i["name"], i["arch"] or "?", str(i["runs"]), i["last_run"] or "-",
             "yes" if i["vars_file"] else "missing", _size(i["overlay_bytes"]), i["image"] or "?"]
            for i in items]
    print(table(rows, ["instance", "arch", "runs", "last run", "vars", "overlay", "image"]))
    echo(f"({store.root})")
    return 0
