"""Hardware description (HW-FDT): the VM's firmware provides the FDT, so
nothing GRUB runs may replace it with a ``devicetree`` command."""

from __future__ import annotations

from armvm_oe.verify import grub
from armvm_oe.verify.model import Finding


def devicetree_finding(cfg: grub.GrubConfig, errors: list[str], found: bool) -> Finding:
    """HW-FDT from every GRUB script read (``cfg``): a ``devicetree`` line
    fails; a script that was not found, not readable (``errors``) or not
    fully resolved leaves it unknown."""
    if cfg.devicetree_lines:
        return Finding("HW-FDT", "devicetree", "fail",
                       "GRUB replaces the firmware's FDT: " + "; ".join(
                           f"{f} line {n}: {line}" for f, n, line
                           in cfg.devicetree_lines[:4]),
                       "Remove the 'devicetree' commands: the VM's firmware passes the FDT "
                       "that matches the VM", {"lines": cfg.devicetree_lines[:32]})
    if cfg.unresolved or errors or not found:
        why = []
        if not found:
            why.append("GRUB's config was not found")
        if errors:
            why.append(f"{len(errors)} config file(s) could not be read")
        if cfg.unresolved:
            why.append("not every command could be resolved: " + "; ".join(cfg.unresolved[:3]))
        return Finding("HW-FDT", "devicetree", "unknown",
                       "no devicetree command in what was read, but " + "; ".join(why),
                       "", {"unresolved": cfg.unresolved[:20]})
    return Finding("HW-FDT", "devicetree", "pass",
                   f"no devicetree command in {len(cfg.files)} GRUB script(s) "
                   "(early config included): the kernel gets the firmware's FDT")
