"""TODO"""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S, attach

PATTERNS = (
    P("log.docker-permission", "no permission on the Docker socket", "error", 3,
      r"permission denied while trying to connect to the Docker daemon socket at "
      r"(?P<sock>[^\s:]+:?/*[^\s:]*)",
      "your user may not use the Docker socket {sock} (it is owned by root:docker and you "
      "are not in the docker group, or the group change needs a new login)",
      "sudo usermod -aG docker $USER, then log out and in (or newgrp docker); do not chmod "
      "666 the socket and do not run the build with sudo",
      "Got permission denied while trying to connect to the Docker daemon socket at "
      "unix:///var/run/docker.sock: Post ...: dial unix /var/run/docker.sock: connect: "
      "permission denied", ("permission denied while trying to connect to the Docker",),
      check="container.socket-permission", phase="setup"),
    P("log.docker-unreachable", "the Docker daemon is not running", "error", 3,
      r"Cannot connect to the Docker daemon at|Is the docker daemon running\?|no container "
      r"engine found, need docker or podman",
      "no container engine answers at DOCKER_HOST / /var/run/docker.sock",
      "Start it (sudo systemctl start docker) or set DOCKER_HOST",
      "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
      "daemon running?", ("Cannot connect to the Docker daemon", "docker daemon running",
                          "no container engine found"),
      check="container.engine-unreachable", phase="setup"),
    P("log.bind-mount-owner", "the container cannot write a bind-mounted directory", "error", 3,
      r"The uid:gid for \"(?P<dir>[^\"]+)\" is \"0:0\"|\[Errno 13\] Permission denied: "
      r"'(?P<dir2>/(?:work|build|workdir|repo)[^']*)'",
      "{dir} belongs to another user than the container's build user (often created by the "
      "docker daemon as root before the first run), so the build cannot write it",
      "Create the directory as yourself before the first run, or chown it to your user "
      "(sudo chown -R $(id -u):$(id -g) <dir on the host>); don't run with sudo",
      "PermissionError: [Errno 13] Permission denied: '/work/build'",
      ("The uid:gid for", "[Errno 13] Permission denied"),
      check="container.bind-mount-owner", phase="setup",
      fields=lambda g, c: {"dir": g.get("dir") or g.get("dir2")}),
)

SOURCES = {
    "log.docker-permission": (S("host", "docker", "permission denied while trying to connect to "
                                "the Docker daemon socket at %s",
                                "Got permission denied while trying to connect to the Docker "
                                "daemon socket at unix:///var/run/docker.sock: dial unix"),),
    "log.docker-unreachable": (S("host", "docker", "Cannot connect to the Docker daemon at %s. "
                                 "Is the docker daemon running?"),),
    "log.bind-mount-owner": (S("host", "crops/poky-container", "The uid:gid for \"%s\" is "
                               "\"0:0\". The uid and gid must be non-zero.",
                               "The uid:gid for \"/workdir\" is \"0:0\". The uid and gid must be "
                               "non-zero."),),
}

PATTERNS = attach(PATTERNS, SOURCES)
