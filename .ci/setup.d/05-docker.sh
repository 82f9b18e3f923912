# Container area (issue 7): the Docker engine and the tool that makes the local
# Debian base image (no registry is reachable on CI machines).
APT_PACKAGES="$APT_PACKAGES docker.io debootstrap"
