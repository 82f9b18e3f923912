#!/bin/sh
# armvm-oe container entrypoint: start as root, remap the unprivileged user
# 'builder' to the caller's uid/gid (ARMVM_UID / ARMVM_GID, set by the armvm-oe
# runner), then drop to it with setpriv (util-linux) and exec the command.
# The command never runs as root: files it writes in the bind-mounted work dir,
# DL_DIR and SSTATE_DIR belong to the calling user on the host.
#
# When the engine already starts the container as a non-root user (podman
# --userns=keep-id, docker run --user), there is nothing to remap: exec directly.
set -eu

say() { echo "armvm-entrypoint: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    [ -n "${HOME:-}" ] && [ -w "${HOME:-/}" ] || export HOME=/tmp
    exec "$@"
fi

uid="${ARMVM_UID:-$(id -u builder)}"
gid="${ARMVM_GID:-$(id -g builder)}"
case "$uid$gid" in *[!0-9]*|'') say "ARMVM_UID/ARMVM_GID must be numbers (got '$uid'/'$gid')"; exit 2 ;; esac
if [ "$uid" = 0 ]; then
    say "refusing to run the build as root (ARMVM_UID=0): bitbake does not run as root." \
        "Run armvm-oe as a normal user, or pass the uid of the owner of the work dir"
    exit 2
fi

if [ "$(id -g builder)" != "$gid" ]; then
    if getent group "$gid" >/dev/null; then
        usermod -g "$gid" builder
    else
        groupmod -g "$gid" builder
    fi
fi
if [ "$(id -u builder)" != "$uid" ]; then
    # -o: the caller's uid may collide with a system account of the image
    usermod -o -u "$uid" builder
fi
chown -R "$uid:$gid" /home/builder

# bitbake needs a writable /dev/shm (FATAL: /dev/shm does not exist or is not writable)
if [ ! -d /dev/shm ] || [ ! -w /dev/shm ]; then
    say "warning: /dev/shm is missing or not writable; bitbake will refuse to start"
fi

export HOME=/home/builder USER=builder LOGNAME=builder
[ $# -gt 0 ] || set -- bash
exec setpriv --reuid="$uid" --regid="$gid" --init-groups -- "$@"
