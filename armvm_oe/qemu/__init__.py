"""QEMU for spec VMs: firmware discovery, the command line, instances
(per-instance UEFI variable store + qcow2 overlay), QMP and console driving.

Public API (stable; also used by the Xen runner, armvm_oe.xen)::

    from armvm_oe.qemu import (find_firmware, VMConfig, build_argv, resolve_kvm,
                               InstanceStore, Console, QMP, parse_facts)

- ``find_firmware(arch, code=None, vars_template=None) -> Firmware``
- ``VMConfig(arch, disk, firmware, vars_file, gic=3, virtio="pci", console="pl011",
  smp=1, mem_mib=1024, kvm=False, virtualization=False, qmp_socket=None, hotplug_ports=0,
  extra_args=[...])`` and ``build_argv(cfg) -> list[str]``
- ``InstanceStore(root=None).prepare(name, image, arch, firmware, reset_vars=False)``
- ``Console.spawn(argv, log_path)`` -> ``wait_boot()``, ``login(Login)``, ``run(cmd)``,
  ``poweroff()`` (``expect_ready()`` for the fixture protocol)
- ``armvm_oe.qemu.probe``: facts from the kernel log and from shell commands
- ``QMP(socket_path)`` -> ``command(name, **args)``, ``hmp(line)``
"""

from armvm_oe.qemu.argv import (GICV2_MAX_CPUS, QEMU_BINARY, VIRTIO_IDS, VMConfig,  # noqa: F401
                                build_argv, kvm_usable, plain_argv, qemu_binary, resolve_kvm)
from armvm_oe.qemu.console import (PROMPT, Boot, Console, ConsoleError, Login,  # noqa: F401
                                   LoginError, interrupt_all, parse_facts)
from armvm_oe.qemu.firmware import FIRMWARE_PACKAGE, Firmware, find_firmware  # noqa: F401
from armvm_oe.qemu.instance import (Instance, InstanceStore, check_image,  # noqa: F401
                                    create_overlay, default_name)
from armvm_oe.qemu.qmp import QMP, QMPError  # noqa: F401
