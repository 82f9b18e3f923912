"""Container errors. Each carries the id of the doctor check that diagnoses the
same condition (``check_id``), so ``armvm-oe doctor`` and a failing
``armvm-oe build --container`` say the same thing."""

from __future__ import annotations

from armvm_oe.errors import ArmvmError, ProblemFound, UsageError, privileged

CHECK_ENGINE_UNREACHABLE = "container.engine-unreachable"
CHECK_SOCKET_PERMISSION = "container.socket-permission"
CHECK_ROOTLESS_MAPPING = "container.rootless-mapping"
CHECK_BIND_MOUNT_OWNER = "container.bind-mount-owner"

CHECK_IDS = (CHECK_ENGINE_UNREACHABLE, CHECK_SOCKET_PERMISSION,
             CHECK_ROOTLESS_MAPPING, CHECK_BIND_MOUNT_OWNER)


class ContainerError(ProblemFound):
    """Base class of the container errors (exit 1)."""


class EngineUnreachable(ContainerError):
    def __init__(self, endpoint: str, detail: str):
        super().__init__(
            f"No container engine answers at {endpoint}",
            f"Cannot connect to the Docker daemon ({detail}); is the daemon running?",
            f"Start it ({privileged('systemctl start docker')}, or on a machine without "
            f"systemd: {privileged('dockerd')} &), or point DOCKER_HOST at a running engine "
            "(podman: systemctl --user start podman.socket; "
            "export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock). "
            "To build on the host instead, see 'armvm-oe build --help'",
            check_id=CHECK_ENGINE_UNREACHABLE)
        self.endpoint = endpoint


class SocketPermission(ContainerError):
    def __init__(self, endpoint: str, socket_path: str | None = None, group: str | None = None):
        grp = group or "docker"
        super().__init__(
            f"Permission denied while trying to connect to the Docker daemon socket at {endpoint}",
            f"your user may not open {socket_path or 'the socket'}"
            f"{f' (it belongs to group {grp!r})' if group else ''}",
            f"Add your user to the {grp} group (sudo usermod -aG {grp} $USER), then log out and "
            f"in again (or run 'newgrp {grp}'). Do not make the socket world-writable: "
            f"membership of that group is equivalent to root, so grant it deliberately "
            f"(or use rootless podman through DOCKER_HOST)",
            check_id=CHECK_SOCKET_PERMISSION)
        self.endpoint = endpoint


class RootlessMapping(ContainerError):
    def __init__(self, engine: str):
        super().__init__(
            f"The container engine ({engine}) runs rootless, and it cannot map the build "
            f"user to your uid",
            "in a rootless Docker engine the container's users map to subordinate uids "
            "(/etc/subuid), so files the build writes in the work dir, DL_DIR and SSTATE_DIR "
            "would not belong to you on the host (\"Permission denied: '/work/build'\")",
            "Use the system Docker engine (add your user to the docker group), or podman, "
            "which maps your uid into the container (--userns=keep-id; armvm-oe does this "
            "itself when DOCKER_HOST points at a podman socket)",
            check_id=CHECK_ROOTLESS_MAPPING)


class BindMountOwner(ContainerError):
    def __init__(self, path: str, owner_uid: int, build_uid: int, role: str,
                 build_gid: int | None = None):
        # uid:gid, not 'uid:' (its login group): a uid without a passwd entry,
        # as a remapped build user often is, makes 'chown uid:' fail
        if owner_uid == build_uid:
            # the build user owns it already: chown would change nothing
            what = f"The {role} {path} is not writable by its owner, the build user (uid {build_uid})"
            why = "its mode has no write or search permission for the owner"
            fix = f"Make it writable: chmod u+rwx {path}"
        else:
            if owner_uid == 0:
                what = f"The {role} {path} is owned by root, not by the build user (uid {build_uid})"
                why = ("the build runs as that unprivileged user inside the container and cannot "
                       "write there; directories that do not exist when a container starts are "
                       "created by the engine as root, which is the usual cause")
            else:
                what = (f"The {role} {path} is owned by uid {owner_uid}, not by the build user "
                        f"(uid {build_uid})")
                why = "the build runs as that user inside the container and cannot write there"
            ids = f"{build_uid}:{build_uid if build_gid is None else build_gid}"
            fix = (f"Give it to the user that runs the build "
                   f"({privileged(f'chown -R {ids} {path}')}) or choose another directory; "
                   "armvm-oe creates missing directories for the build user before the "
                   "container starts")
        super().__init__(what, why, fix, check_id=CHECK_BIND_MOUNT_OWNER)
        self.path = path


class BaseImageMissing(UsageError):
    def __init__(self, base: str, detail: str):
        super().__init__(
            f"The base image {base} is not available",
            f"it is not in the local engine and could not be pulled ({detail.strip()[:200]})",
            "On a machine without registry access, make a local base with "
            f"'{privileged('scripts/make-base-image.sh')}' and pass its name: "
            "armvm-oe container build --base-image armvm-oe/debian-base:bookworm "
            "(or set ARMVM_CONTAINER_BASE_IMAGE)")


class ImageBuildFailed(ContainerError):
    def __init__(self, step: str, detail: str):
        super().__init__(
            f"Building the container image failed at {step or 'a step'}",
            detail.strip()[-600:] or "the engine reported an error",
            "Read the build output above (run with -v for all of it); if apt cannot reach "
            "snapshot.debian.org, pass a reachable mirror with --mirror")


class SourceTreeMissing(UsageError):
    def __init__(self, looked: str):
        super().__init__(
            "The container definition (containers/Dockerfile) was not found",
            f"armvm-oe builds its image from the copy shipped in the package (or a "
            f"checkout) and looked in {looked}; this installation is incomplete",
            "Reinstall with 'bash scripts/install.sh' from a checkout (or point "
            "ARMVM_SOURCE_DIR at a checkout of the armvm-oe repository)")


__all__ = ["ArmvmError", "ContainerError", "EngineUnreachable", "SocketPermission",
           "RootlessMapping", "BindMountOwner", "BaseImageMissing", "ImageBuildFailed",
           "SourceTreeMissing", "CHECK_IDS", "CHECK_ENGINE_UNREACHABLE",
           "CHECK_SOCKET_PERMISSION", "CHECK_ROOTLESS_MAPPING", "CHECK_BIND_MOUNT_OWNER"]
