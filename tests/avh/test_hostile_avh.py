"""avh pack never destroys its inputs or an existing file; avh check refuses
links and special files and can see a NUL in a name (issue 16)."""

from __future__ import annotations

import hashlib
import os
import plistlib
import stat
import zipfile

import pytest

from armvm_oe.avh import check_package, device_table


@pytest.fixture
def disk(tmp_path):
    p = tmp_path / "disk.wic"
    p.write_bytes(os.urandom(64 << 10) + bytes(1 << 20))
    return p


def _sha(p) -> str:
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def _pack(armvm, kernel, dtb, disk, out, *extra):
    return armvm("avh", "pack", "--device", "rpi4b", "--kernel", kernel, "--dtb", dtb,
                 "--storage", disk, "-o", out, *extra)


@pytest.mark.parametrize("which", ["storage", "kernel", "dtb"])
@pytest.mark.parametrize("force", [False, True])
def test_output_is_an_input_is_refused(tmp_path, armvm, kernel, dtb, disk, which, force):
    k, d = tmp_path / "Image", tmp_path / "virt.dtb"
    k.write_bytes(kernel.read_bytes())
    d.write_bytes(dtb.read_bytes())
    victim = {"storage": disk, "kernel": k, "dtb": d}[which]
    before = _sha(victim)
    r = _pack(armvm, k, d, disk, victim, *(["--force"] if force else []))
    assert r.returncode == 2, r.stderr
    assert "also an input" in r.stderr and "Traceback" not in r.stderr
    assert _sha(victim) == before


def test_existing_output_needs_force(tmp_path, armvm, kernel, dtb, disk):
    out = tmp_path / "fw.zip"
    out.write_bytes(b"precious")
    r = _pack(armvm, kernel, dtb, disk, out)
    assert r.returncode == 2 and "already exists" in r.stderr and out.read_bytes() == b"precious"
    r = _pack(armvm, kernel, dtb, disk, out, "--force")
    assert r.returncode == 0, r.stderr
    assert zipfile.is_zipfile(out)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]     # no temp left


@pytest.mark.parametrize("where", ["directory", "under-a-file", "unwritable"])
def test_bad_output_paths_exit_2(tmp_path, armvm, kernel, dtb, disk, where):
    (tmp_path / "afile").write_text("x")
    out = {"directory": tmp_path, "under-a-file": tmp_path / "afile" / "fw.zip",
           "unwritable": "/proc/armvm-oe-test/fw.zip"}[where]
    r = _pack(armvm, kernel, dtb, disk, out)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "cannot be created" in r.stderr or \
        "is a directory" in r.stderr


@pytest.mark.parametrize("kind", ["fifo", "directory", "missing", "devzero"])
@pytest.mark.parametrize("option", ["--storage", "--kernel", "--dtb"])
def test_special_input_files_exit_2(tmp_path, armvm, kernel, dtb, disk, kind, option):
    bad = {"fifo": tmp_path / "fifo", "directory": tmp_path, "missing": tmp_path / "nope",
           "devzero": "/dev/zero"}[kind]
    if kind == "fifo":
        os.mkfifo(bad)
    args = {"--storage": disk, "--kernel": kernel, "--dtb": dtb}
    args[option] = bad
    r = armvm("avh", "pack", "--device", "rpi4b", *[x for kv in args.items() for x in kv],
              "-o", tmp_path / "fw.zip", timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr


# -- avh check ----------------------------------------------------------------
def _members(kernel, dtb):
    info = {"Type": "iot", "UniqueIdentifier": "x", "DeviceIdentifier": "rpi4b",
            "Version": "1", "Build": "b"}
    return [("Info.plist", plistlib.dumps(info)), ("kernel", kernel.read_bytes()[:8192]),
            ("devicetree", dtb.read_bytes()), ("nand", b"x" * 100)]


def _zip_with_mode(path, members, extra: list[tuple[str, bytes, int]]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
        for name, data, mode in extra:
            zi = zipfile.ZipInfo(name)
            zi.create_system = 3
            zi.external_attr = mode << 16
            zf.writestr(zi, data)
    return path


@pytest.mark.parametrize("mode,word", [(stat.S_IFLNK | 0o777, "symbolic link"),
                                       (stat.S_IFCHR | 0o666, "character device"),
                                       (stat.S_IFBLK | 0o660, "block device"),
                                       (stat.S_IFIFO | 0o644, "FIFO")])
def test_check_refuses_links_and_devices(tmp_path, kernel, dtb, mode, word):
    z = _zip_with_mode(tmp_path / "p.zip", _members(kernel, dtb), [("lnk", b"/tmp", mode)])
    rep = check_package(z, device_table())
    assert not rep.ok
    assert any(p.code == "unsafe-name" and word in p.message for p in rep.problems)


def test_check_refuses_symlink_then_file_through_it(tmp_path, kernel, dtb):
    z = _zip_with_mode(tmp_path / "p.zip", _members(kernel, dtb),
                       [("lnk", b"/tmp", stat.S_IFLNK | 0o777),
                        ("lnk/file", b"x", stat.S_IFREG | 0o644)])
    rep = check_package(z, device_table())
    assert not rep.ok and any("symbolic link" in p.message for p in rep.problems)


def test_check_sees_nul_in_a_name(tmp_path, kernel, dtb):
    z = _zip_with_mode(tmp_path / "p.zip", _members(kernel, dtb) + [("nulXbyte", b"x")], [])
    raw = z.read_bytes().replace(b"nulXbyte", b"nul\0byte")   # local + central header
    z.write_bytes(raw)
    rep = check_package(z, device_table())
    assert any(p.code == "unsafe-name" and "NUL" in p.message for p in rep.problems), \
        [p.as_dict() for p in rep.problems]
    assert not rep.ok


@pytest.mark.parametrize("kind", ["fifo", "devzero", "directory"])
def test_check_special_files_exit_2(tmp_path, armvm, kind):
    bad = {"fifo": tmp_path / "fifo", "devzero": "/dev/zero", "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(bad)
    r = armvm("avh", "check", bad, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
