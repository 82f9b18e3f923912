"""Boot an armvm image's own kernel as Xen dom0 under QEMU.

Entry point for ``armvm-oe test IMAGE --hypervisor xen`` (wired by
armvm_oe/plugins/test.py)::

    from armvm_oe.xen import run_xen_cell
    cell = run_xen_cell(Path("img.wic"), arch="aarch64", xen_path=None,
                        timeout=240, log_dir=Path("logs"))

Standalone (for development): ``python3 -m armvm_oe.xen IMAGE``.
"""

from armvm_oe.xen.cell import XenBootOptions, run_xen_cell

__all__ = ["run_xen_cell", "XenBootOptions"]
