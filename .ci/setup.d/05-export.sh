# Export area (issue 18: armvm-oe export): qemu-img does the conversions
# (qemu-utils); the tests validate the libvirt domain with libvirt's own
# virt-xml-validate (libvirt-clients, which calls xmllint from libxml2-utils),
# boot it under a private session libvirtd (libvirt-daemon +
# libvirt-daemon-driver-qemu; no system daemon or systemd unit is used) and
# flash the raw.xz export with bmaptool (bmap-tools) to check its block map.
APT_PACKAGES="$APT_PACKAGES qemu-utils libvirt-clients libxml2-utils libvirt-daemon libvirt-daemon-driver-qemu bmap-tools gdisk"
