# Doctor area (issue 6): the host the doctor's healthy-environment tests run
# on must really be healthy for scarthgap: the HOSTTOOLS (chrpath, diffstat,
# lz4c, pzstd, rpcgen, ...), the compilers, the en_US.UTF-8 locale sources
# (locales; localedef also builds the ISO-8859-1 locale a test uses), and
# util-linux's unshare/runuser for the namespace and non-root tests.
APT_PACKAGES="$APT_PACKAGES build-essential chrpath diffstat cpio gawk file lz4 zstd wget \
git python3 patch perl xz-utils bzip2 gzip rpcsvc-proto locales util-linux iproute2"
