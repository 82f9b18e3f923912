"""Each host check made to fire by a real broken environment."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from _need import need_fixture

from armvm_oe.doctor import Context, Thresholds
from armvm_oe.doctor import facts
from tests.doctor.conftest import fired, ids, system_python, world_dir

SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def test_hosttools_missing_chrpath(tmp_path):
    """A PATH with every HOSTTOOL except chrpath."""
    ctx = Context(env={"PATH": SYS_PATH}, release="scarthgap")
    tools, _ = facts.hosttools(ctx)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for t in tools:
        exe = shutil.which(t, path=SYS_PATH)
        if exe and t != "chrpath":
            (bindir / t).symlink_to(exe)
    ctx = Context(env={"PATH": str(bindir), "LANG": "C.UTF-8"}, release="scarthgap")
    res = fired(ctx, "host.hosttools")
    assert len(res) == 1 and res[0].severity == "fatal"
    assert "chrpath" in res[0].message.split("(")[0]
    assert any("apt-get install" in c and "chrpath" in c for c in res[0].commands)
    # and quiet with the full system PATH
    assert not fired(Context(env={"PATH": SYS_PATH}, release="scarthgap"), "host.hosttools")


@pytest.mark.poky
def test_hosttools_read_from_poky_matches_builtin():
    from _yocto import tree        # ARMVM_MIRRORS (split repos) or ARMVM_POKY_DIR
    poky = tree("scarthgap").core
    conf = poky / "meta" / "conf" / "bitbake.conf"
    parsed = facts.hosttools_from_bitbake_conf(conf)
    assert "chrpath" in parsed and "lz4c" in parsed
    ctx = Context(core_dir=poky)
    tools, source = facts.hosttools(ctx)
    assert source == str(conf)
    assert facts.release_of(ctx).name == "scarthgap"
    assert set(parsed) == set(facts.RELEASES["scarthgap"].hosttools)


def _shim(d: Path, name: str, output: str):
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_text(f"#!/bin/sh\necho '{output}'\n")
    p.chmod(0o755)


@pytest.mark.parametrize("check_id,tool,output", [
    ("host.python-version", "python3", "Python 3.6.9"),
    ("host.gcc-version", "gcc", "7.3.0"),
    ("host.git-version", "git", "git version 1.7.1"),
    ("host.tar-version", "tar", "tar (GNU tar) 1.26"),
    ("host.tar-version", "tar", "tar (busybox) 1.36.1"),
    ("host.make-version", "make", "GNU Make 3.82"),
])
def test_old_tool_versions(tmp_path, check_id, tool, output):
    """An old tool first on PATH (a script reporting an old version)."""
    _shim(tmp_path / "old", tool, output)
    ctx = Context(env={"PATH": f"{tmp_path / 'old'}:{SYS_PATH}"}, release="scarthgap")
    res = fired(ctx, check_id)
    assert res and res[0].severity == "fatal", res
    assert not fired(Context(env={"PATH": SYS_PATH}, release="scarthgap"), check_id)


def test_wrynose_needs_newer_gcc_than_scarthgap(tmp_path):
    _shim(tmp_path / "old", "gcc", "9.4.0")
    env = {"PATH": f"{tmp_path / 'old'}:{SYS_PATH}"}
    assert not fired(Context(env=env, release="scarthgap"), "host.gcc-version")
    assert fired(Context(env=env, release="wrynose"), "host.gcc-version")


def test_locale_missing():
    """glibc with no en_US.UTF-8 locale data (LOCPATH pointing at an empty dir)."""
    env = dict(os.environ, LOCPATH="/nonexistent-locales")
    res = fired(Context(env=env), "host.locale")
    assert res and "en_US.UTF-8" in res[0].message
    assert not fired(Context(), "host.locale")


def test_lang_not_utf8(tmp_path):
    """A real ISO-8859-1 locale (compiled with localedef) in LANG."""
    if not shutil.which("localedef") or not Path("/usr/share/i18n/locales/en_US").exists():
        need_fixture("localedef/locale sources missing: .ci/setup.d/05-doctor.sh installs locales")
    loc = tmp_path / "locales"
    loc.mkdir()
    subprocess.run(["localedef", "-i", "en_US", "-f", "ISO-8859-1",
                    str(loc / "en_US.ISO-8859-1")], check=True, capture_output=True)
    env = {"PATH": SYS_PATH, "LOCPATH": str(loc), "LANG": "en_US.ISO-8859-1"}
    res = fired(Context(env=env), "host.lang-utf8")
    assert res and "iso8859-1" in res[0].message and "LANG=en_US.ISO-8859-1" in res[0].message


def test_lang_c_is_coerced_to_utf8():
    """LANG=C no longer breaks bitbake: Python >= 3.7 coerces the C locale to
    UTF-8 (PEP 538/540), so bitbake's check passes; the doctor must not cry wolf."""
    assert not fired(Context(env={"PATH": SYS_PATH, "LANG": "C"}), "host.lang-utf8")
    assert not fired(Context(env={"PATH": SYS_PATH, "LC_ALL": "POSIX"}), "host.lang-utf8")


def test_root():
    if os.geteuid() != 0:
        need_fixture("not root: the CI runs as root; this test proves the check fires there")
    res = fired(Context(), "host.root")
    assert res and res[0].fatal


def test_umask():
    old = os.umask(0o077)
    try:
        res = fired(Context(), "host.umask")
    finally:
        os.umask(old)
    assert res and "0077" in res[0].message
    old = os.umask(0o022)
    try:
        assert not fired(Context(), "host.umask")
    finally:
        os.umask(old)


def test_path_entries():
    res = fired(Context(env={"PATH": f"{SYS_PATH}:.::/opt/x"}), "host.path-entries")
    assert res and "'.'" in res[0].message and "''" in res[0].message
    assert res[0].commands[0].startswith("export PATH=")
    assert ":." not in res[0].commands[0]


def test_tmp_noexec(tmp_path, mount_tmpfs):
    root = tmp_path / "root"
    mount_tmpfs(root / "tmp", "size=1m,noexec")
    res = fired(Context(host_root=root), "host.tmp-noexec")
    assert res and res[0].fatal
    root2 = tmp_path / "root2"
    mount_tmpfs(root2 / "tmp", "size=1m")
    assert not fired(Context(host_root=root2), "host.tmp-noexec")


def test_bin_sh(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sh").symlink_to("busybox")
    res = fired(Context(host_root=tmp_path), "host.bin-sh")
    assert res and "busybox" in res[0].message
    (tmp_path / "bin" / "sh").unlink()
    (tmp_path / "bin" / "sh").symlink_to("dash")
    assert not fired(Context(host_root=tmp_path), "host.bin-sh")


def test_userns_uid_map_denied(doctor_as):
    """unshare succeeds but the uid map cannot be written (the AppArmor shape):
    /proc is read-only in a private mount namespace."""
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount -o bind /proc /proc && mount -o bind,remount,ro /proc && exec "$@"', "sh"]
    rc, data = doctor_as("--only", "host.userns", wrap=wrap)
    assert rc == 1 and ids(data) == ["host.userns"], data
    assert "uid_map" in data["results"][0]["message"]


def test_userns_unavailable(pkg_copy, record_fired):
    """user.max_user_namespaces=0 inside a user namespace: unshare fails."""
    code = ("echo 0 > /proc/sys/user/max_user_namespaces && exec " + system_python() +
            " -m armvm_oe.doctor --only host.userns-unavailable,host.userns --json")
    p = subprocess.run(["unshare", "-U", "-r", "sh", "-c", code], capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=str(pkg_copy)))
    import json
    data = json.loads(p.stdout)
    assert ids(data) == ["host.userns-unavailable"], (data, p.stderr)
    record_fired(data)


def test_userns_works_here():
    assert not fired(Context(), "host.userns")


def test_apparmor_sysctl(tmp_path):
    f = tmp_path / "proc/sys/kernel/apparmor_restrict_unprivileged_userns"
    f.parent.mkdir(parents=True)
    f.write_text("1\n")
    res = fired(Context(host_root=tmp_path), "host.apparmor-userns")
    assert res and "apparmor_restrict_unprivileged_userns=1" in res[0].message
    f.write_text("0\n")
    assert not fired(Context(host_root=tmp_path), "host.apparmor-userns")


def test_wsl1(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/version").write_text(
        "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0)\n")
    assert fired(Context(host_root=tmp_path), "host.wsl1")
    (tmp_path / "proc/version").write_text(
        "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@1c602f52c2e4)\n")
    assert not fired(Context(host_root=tmp_path), "host.wsl1")


def test_dev_shm_read_only(doctor_as):
    """A real read-only /dev/shm in a private mount namespace."""
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs -o ro,size=1m tmpfs /dev/shm && exec "$@"', "sh"]
    rc, data = doctor_as("--only", "host.dev-shm", wrap=wrap)
    assert ids(data) == ["host.dev-shm"], data
    rc, data = doctor_as("--only", "host.dev-shm")
    assert ids(data) == [], data


def test_dev_shm_missing(tmp_path):
    assert fired(Context(host_root=tmp_path), "host.dev-shm")


def test_untested_distro(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('ID=debian\nVERSION_ID="13"\n')
    res = fired(Context(host_root=tmp_path, release="scarthgap"), "host.tested-distro")
    assert res and "debian-13" in res[0].message
    (tmp_path / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    assert not fired(Context(host_root=tmp_path, release="scarthgap"), "host.tested-distro")


def test_disk_space_small_filesystem(tmp_path, mount_tmpfs):
    """A real 64 MiB filesystem with 500 inodes as the build directory."""
    b = mount_tmpfs(tmp_path / "small", "size=64m,nr_inodes=500")
    ctx = Context(build_dir=b / "build")
    res = fired(ctx, "host.disk-space")
    assert res and res[0].fatal and "HALT" in res[0].message
    ino = fired(Context(build_dir=b / "build"), "host.disk-inodes")
    assert ino and ino[0].fatal and "inodes" in ino[0].message
    rec = fired(Context(build_dir=b / "build"), "host.disk-recommended")
    assert rec and "40 GB" in rec[0].message


def test_disk_space_threshold_option(tmp_path):
    """The STOPTASKS limit raised above what any disk has (a threshold option)."""
    t = Thresholds(disk_stop_bytes=1 << 60)
    res = fired(Context(build_dir=tmp_path / "build", thresholds=t), "host.disk-space")
    assert res and res[0].severity == "error" and "STOPTASKS" in res[0].message
    assert not fired(Context(build_dir=tmp_path / "build"), "host.disk-space")


def test_ram_total_threshold():
    assert fired(Context(thresholds=Thresholds(min_ram_gb=1 << 20)), "host.ram-total")
    assert not fired(Context(thresholds=Thresholds(min_ram_gb=0.1)), "host.ram-total")


def test_ram_per_job():
    res = fired(Context(jobs=100_000), "host.ram-per-job")
    assert res and "100000 parallel jobs" in res[0].message
    assert "BB_NUMBER_THREADS=" in res[0].commands[0]
    assert not fired(Context(jobs=1), "host.ram-per-job")


def _mountinfo(root: Path, mnt: str, fstype: str):
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/mountinfo").write_text(
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        f"40 22 0:50 / {mnt} rw,relatime shared:30 - {fstype} server:/export rw,vers=4.2\n")


def test_fs_nfs(tmp_path):
    b = world_dir("armvm-doctor-nfs-")
    try:
        _mountinfo(tmp_path, str(b), "nfs4")
        res = fired(Context(host_root=tmp_path, build_dir=b / "build"), "host.fs-nfs")
        assert res and res[0].fatal and "nfs4" in res[0].message
        assert not fired(Context(build_dir=b / "build"), "host.fs-nfs")
    finally:
        shutil.rmtree(b)


def test_fs_case_insensitive(tmp_path):
    b = world_dir("armvm-doctor-vfat-")
    try:
        _mountinfo(tmp_path, str(b), "vfat")
        res = fired(Context(host_root=tmp_path, build_dir=b / "build"), "host.fs-case-insensitive")
        assert res and "vfat" in res[0].message
        # the real probe on this (case-sensitive) filesystem stays quiet
        assert not fired(Context(build_dir=b / "build"), "host.fs-case-insensitive")
    finally:
        shutil.rmtree(b)


def test_fs_short_names(tmp_path):
    """A 300-character name really fails on ext4/tmpfs (limit 255)."""
    res = fired(Context(build_dir=tmp_path / "b", thresholds=Thresholds(long_name_len=300)),
                "host.fs-short-names")
    assert res and "File name too long" in res[0].message
    assert not fired(Context(build_dir=tmp_path / "b"), "host.fs-short-names")
