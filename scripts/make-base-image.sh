#!/usr/bin/env bash
# Make a Debian 12 (bookworm) base image locally with debootstrap + docker import,
# for sites (and CI machines) that cannot pull debian:bookworm-slim from a registry.
#
#   sudo scripts/make-base-image.sh [--tag NAME] [--mirror URL] [--tarball FILE] [--no-import]
#
# The result is used with:  armvm-oe container build --base-image NAME
#
# The root file system tarball is written with sorted names, clamped mtimes and
# numeric owners, so the same debootstrap result gives the same tarball.
# Needs root (debootstrap) and the Debian packages debootstrap + docker.io (or a
# Docker-compatible client such as podman-docker) for the import step.
set -euo pipefail

TAG="armvm-oe/debian-base:bookworm"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE="bookworm"
TARBALL=""
IMPORT=1
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1790467200}"   # 2026-09-27T00:00:00Z, as in containers/Dockerfile

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) TAG="$2"; shift 2 ;;
        --mirror) MIRROR="$2"; shift 2 ;;
        --suite) SUITE="$2"; shift 2 ;;
        --tarball) TARBALL="$2"; shift 2 ;;
        --no-import) IMPORT=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "make-base-image.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    echo "make-base-image.sh: debootstrap needs root; run it with sudo" >&2; exit 2
fi
command -v debootstrap >/dev/null || {
    echo "make-base-image.sh: debootstrap not found (sudo apt-get install debootstrap)" >&2; exit 2; }
if [ "$IMPORT" = 1 ]; then
    command -v docker >/dev/null || {
        echo "make-base-image.sh: docker client not found (sudo apt-get install docker.io)" >&2; exit 2; }
fi

work="$(mktemp -d /var/tmp/armvm-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "make-base-image: debootstrap --variant=minbase $SUITE from $MIRROR" >&2
debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# Drop the run-specific state that would make two runs differ and that a
# container image must not carry.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/var/log/* "$rootfs"/var/cache/ldconfig/aux-cache "$rootfs"/debootstrap \
       "$rootfs"/tmp/* "$rootfs"/root/.cache
: > "$rootfs/etc/machine-id"
rm -f "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"
mkdir -p "$rootfs/var/log/apt"

[ -n "$TARBALL" ] || TARBALL="$work/rootfs.tar"
mkdir -p "$(dirname "$TARBALL")"
tar -C "$rootfs" --sort=name --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$TARBALL.part" .
mv "$TARBALL.part" "$TARBALL"
echo "make-base-image: tarball $TARBALL ($(du -h "$TARBALL" | cut -f1))" >&2

if [ "$IMPORT" = 1 ]; then
    docker import --change 'CMD ["bash"]' "$TARBALL" "$TAG" >/dev/null
    echo "make-base-image: imported as $TAG" >&2
fi
echo "$TAG"
