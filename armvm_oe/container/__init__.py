"""The reproducible build container: engine connection and error mapping
(:mod:`.engine`, :mod:`.errors`), the content-hash-tagged image
(:mod:`.image`), the runner used by ``armvm-oe build --container``
(:mod:`.runner`) and the reproducibility comparison (:mod:`.repro`).

The runner API for other commands (documented in docs/container.md)::

    from armvm_oe.container import Mounts, run_in_container
    rc = run_in_container(["kas", "build", "/repo/kas/armvm-aarch64.yml"],
                          Mounts(work_dir=work, project=project, dl_dir=dl,
                                 sstate_dir=sstate, ssh_agent=False),
                          on_line=print)
"""

from armvm_oe.container.engine import connect, engine_info
from armvm_oe.container.errors import (CHECK_IDS, BaseImageMissing, BindMountOwner,
                                       ContainerError, EngineUnreachable, RootlessMapping,
                                       SocketPermission)
from armvm_oe.container.image import ImageSpec, build_image, ensure_image
from armvm_oe.container.runner import (DL_MOUNT, PROJECT_MOUNT, SSTATE_MIRROR_MOUNT,
                                       SSTATE_MOUNT, WORK_MOUNT, Mounts, leftover_containers, run_in_container)

__all__ = ["connect", "engine_info", "CHECK_IDS", "BaseImageMissing", "BindMountOwner",
           "ContainerError", "EngineUnreachable", "RootlessMapping", "SocketPermission",
           "ImageSpec", "build_image", "ensure_image", "Mounts", "run_in_container",
           "leftover_containers", "PROJECT_MOUNT", "WORK_MOUNT", "DL_MOUNT", "SSTATE_MOUNT",
           "SSTATE_MIRROR_MOUNT"]
