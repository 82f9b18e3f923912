"""AVH firmware packages: pack/check round trips on Debian's real arm64
kernel and a QEMU-dumped DTB, every refusal path, zip-slip, bombs, and a
foreign package with Info.json."""

from __future__ import annotations

import gzip
import json
import os
import plistlib
import struct
import zipfile
from pathlib import Path

import pytest

from armvm_oe.avh import Limits, check_package, device_table, pack
from armvm_oe.avh.devices import DEVICES
from armvm_oe.errors import InputError, UsageError


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    """A small storage file: an MBR-less GPT-ish blob with data and zeros."""
    p = tmp_path_factory.mktemp("disk") / "disk.img"
    with open(p, "wb") as f:
        f.write(os.urandom(256 << 10))
        f.write(b"\0" * (2 << 20))
    return p


def _pack(tmp_path, kernel, dtb, disk, name="fw.zip", **kw):
    kw.setdefault("version", "1.0")
    kw.setdefault("build", "armvm-oe test")
    return pack(tmp_path / name, kernel, dtb, DEVICES["rpi4b"], {"nand": disk}, **kw)


def test_round_trip_plist(tmp_path, kernel, dtb, disk):
    res = _pack(tmp_path, kernel, dtb, disk, bootargs_normal="console=ttyS0 root=/dev/mmcblk0p2",
                bootargs_restore="console=ttyS0 init=/resize")
    with zipfile.ZipFile(res.path) as zf:
        assert zf.namelist() == ["Info.plist", "kernel", "devicetree", "nand"]
        assert zf.read("kernel") == kernel.read_bytes()
        assert zf.read("devicetree") == dtb.read_bytes()
        assert zf.read("nand") == disk.read_bytes()
        info = plistlib.loads(zf.read("Info.plist"))
        for zi in zf.infolist():
            assert zi.date_time == (1980, 1, 1, 0, 0, 0)
            assert (zi.external_attr >> 16) == 0o100644 and zi.create_system == 3
            assert zi.compress_type == zipfile.ZIP_DEFLATED
    assert info["Type"] == "iot" and info["DeviceIdentifier"] == "rpi4b"
    assert info["Version"] == "1.0" and info["Build"] == "armvm-oe test"
    assert info["bootargs"] == {"normal": "console=ttyS0 root=/dev/mmcblk0p2",
                                "restore": "console=ttyS0 init=/resize"}
    rep = check_package(res.path, device_table())
    assert rep.ok, [p.message for p in rep.problems]
    assert rep.device == "rpi4b" and rep.kernel["format"] == "arm64 Image"
    assert rep.kernel["efi_stub"] is True
    assert rep.devicetree["compatible"] == ["linux,dummy-virt"]
    assert not rep.problems


def test_reproducible(tmp_path, kernel, dtb, disk, monkeypatch):
    a = _pack(tmp_path, kernel, dtb, disk, "a.zip")
    os.utime(disk, (1, 1))            # input timestamps must not matter
    b = _pack(tmp_path, kernel, dtb, disk, "b.zip")
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.info["UniqueIdentifier"] == b.info["UniqueIdentifier"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790467200")   # 2026-09-27
    c = _pack(tmp_path, kernel, dtb, disk, "c.zip")
    with zipfile.ZipFile(c.path) as zf:
        assert zf.infolist()[0].date_time == (2026, 9, 27, 0, 0, 0)


def test_info_json_and_gzip_kernel(tmp_path, kernel, dtb, disk):
    gz = tmp_path / "Image.gz"
    gz.write_bytes(gzip.compress(kernel.read_bytes(), compresslevel=1))
    res = pack(tmp_path / "k.zip", gz, dtb, DEVICES["kronos"], {"virtio_0": disk},
               version="2", build="b", info_json=True)
    assert res.kernel_was_gzip
    with zipfile.ZipFile(res.path) as zf:
        assert zf.namelist() == ["Info.json", "kernel", "devicetree", "virtio_0"]
        assert zf.read("kernel") == kernel.read_bytes()
        assert json.loads(zf.read("Info.json"))["DeviceIdentifier"] == "kronos"
    assert check_package(res.path, device_table()).ok


def _header(kernel: Path) -> bytearray:
    return bytearray(kernel.read_bytes()[:4096])


@pytest.mark.parametrize("make,needle", [
    (lambda k, t: t.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(200)), "ELF file (vmlinux)"),
    (lambda k, t: t.write_bytes(bytes(0x24) + struct.pack("<I", 0x016F2818) + bytes(4096)),
     "32-bit ARM zImage"),
    (lambda k, t: t.write_bytes(bytes(0x202) + b"HdrS" + bytes(100)), "x86 bzImage"),
    (lambda k, t: t.write_bytes(bytes(k[:0x38]) + b"RSC\x05" + bytes(k[0x3c:])), "RISC-V"),
    (lambda k, t: t.write_bytes(bytes(k[:0x18]) + struct.pack("<Q", 1) + bytes(k[0x20:])),
     "big-endian"),
    (lambda k, t: t.write_bytes(bytes(k[:0x38]) + b"XXXX" + bytes(k[0x3c:])), "no 'ARM\\x64'"),
    (lambda k, t: t.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(100)), "zstd-compressed"),
    (lambda k, t: t.write_bytes(b"tiny"), "shorter than the 64-byte"),
])
def test_kernel_refused(tmp_path, kernel, dtb, disk, make, needle):
    bad = tmp_path / "bad"
    make(_header(kernel), bad)
    with pytest.raises(InputError) as ei:
        _pack(tmp_path, bad, dtb, disk)
    assert needle in ei.value.what


def test_dtb_given_as_kernel_and_kernel_as_dtb(tmp_path, kernel, dtb, disk):
    with pytest.raises(InputError, match="not an arm64 Image"):
        _pack(tmp_path, dtb, dtb, disk)
    head = tmp_path / "head"
    head.write_bytes(kernel.read_bytes()[:1 << 20])
    with pytest.raises(InputError, match="not a DTB: magic"):
        _pack(tmp_path, kernel, head, disk)
    with pytest.raises(InputError, match="far too large"):
        _pack(tmp_path, kernel, kernel, disk)


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: b"/dts-v1/;\n/ { };\n", "DTS source text"),
    (lambda d: d[:4096], "totalsize"),                      # truncated blob
    (lambda d: d[:20], "shorter than the 40-byte"),
    (lambda d: d[:20] + struct.pack(">I", 2) + d[24:], "version"),   # version 2
    (lambda d: d[:8] + struct.pack(">I", 0xFFFFF0) + d[12:], "structure block"),
])
def test_dtb_refused(tmp_path, kernel, dtb, disk, mutate, needle):
    bad = tmp_path / "bad.dtb"
    bad.write_bytes(mutate(dtb.read_bytes()))
    with pytest.raises(InputError) as ei:
        _pack(tmp_path, kernel, bad, disk)
    assert needle in ei.value.what


def test_dtb_bad_token(tmp_path, kernel, dtb, disk):
    data = bytearray(dtb.read_bytes())
    off_struct = struct.unpack_from(">I", data, 8)[0]
    struct.pack_into(">I", data, off_struct, 7)          # not FDT_BEGIN_NODE
    bad = tmp_path / "tok.dtb"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="does not start with the root node"):
        _pack(tmp_path, kernel, bad, disk)


def test_storage_and_device_usage_errors(tmp_path, kernel, dtb, disk, armvm):
    from armvm_oe.avh.pack import assign_storage
    with pytest.raises(UsageError, match="needs the storage"):
        assign_storage(DEVICES["rpi4b"], [])
    with pytest.raises(UsageError, match="not a storage file"):
        assign_storage(DEVICES["rpi4b"], [f"virtio_0={disk}"])
    with pytest.raises(InputError, match="does not exist"):
        assign_storage(DEVICES["rpi4b"], [str(tmp_path / "none.img")])
    r = armvm("avh", "pack", "--device", "imx93", "--kernel", kernel, "--dtb", dtb,
              "--storage", disk, "-o", tmp_path / "x.zip")
    assert r.returncode == 2 and "Unknown AVH device 'imx93'" in r.stderr
    r = armvm("avh", "pack", "--device", "imx93", "--device-def", "imx93=mmc", "--kernel",
              kernel, "--dtb", dtb, "--storage", disk, "-o", tmp_path / "x.zip", "--json")
    assert r.returncode == 0, r.stderr
    assert [m["name"] for m in json.loads(r.stdout)["members"]][-1] == "mmc"
    r = armvm("avh", "check", tmp_path / "x.zip")
    assert r.returncode == 0 and "unknown-device" in r.stdout     # a warning only
    r = armvm("avh", "check", "--device-def", "imx93=mmc", "--json", tmp_path / "x.zip")
    assert r.returncode == 0 and json.loads(r.stdout)["problems"] == []


# ---------------------------------------------------------------- foreign zips

def _zip(path: Path, members: list[tuple[str, bytes]], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, data in members:
            zi = zipfile.ZipInfo(name, (2023, 5, 17, 10, 30, 0))
            zi.compress_type = method
            zf.writestr(zi, data)
    return path


def _info(**kw) -> dict:
    d = {"Type": "iot", "UniqueIdentifier": "Vendor Linux on RPi", "DeviceIdentifier": "rpi4b",
         "Version": "22.04.1", "Build": "Vendor"}
    d.update(kw)
    return d


def test_foreign_package_with_info_json(tmp_path, kernel, dtb, disk, armvm):
    """A package made by someone else: Info.json, other order, other dates."""
    z = _zip(tmp_path / "vendor.zip", [
        ("nand", disk.read_bytes()), ("devicetree", dtb.read_bytes()),
        ("Info.json", json.dumps(_info(bootargs={"normal": "console=ttyS0"})).encode()),
        ("kernel", kernel.read_bytes())])
    r = armvm("avh", "check", "--json", z)
    assert r.returncode == 0, r.stdout
    d = json.loads(r.stdout)
    assert d["ok"] and d["info_member"] == "Info.json" and d["device"] == "rpi4b"
    assert d["info"]["bootargs"] == {"normal": "console=ttyS0"}


@pytest.mark.parametrize("members,code", [
    ("no-info", "missing-info"),
    ("both-info", "ambiguous-info"),
    ("no-kernel", "missing-kernel"),
    ("no-dtb", "missing-devicetree"),
    ("no-storage", "missing-storage"),
    ("int-version", "info-keys"),
    ("bootargs-list", "info-keys"),
    ("bad-plist", "info-unreadable"),
    ("gz-kernel", "kernel-format"),
    ("bad-dtb", "dtb-format"),
    ("empty-storage", "empty-storage"),
])
def test_foreign_package_problems(tmp_path, kernel, dtb, disk, members, code):
    k, d, n = kernel.read_bytes()[:1 << 20], dtb.read_bytes(), disk.read_bytes()
    info = plistlib.dumps(_info())
    m = {"Info.plist": info, "kernel": k, "devicetree": d, "nand": n}
    if members == "no-info":
        del m["Info.plist"]
    elif members == "both-info":
        m["Info.json"] = json.dumps(_info()).encode()
    elif members == "no-kernel":
        del m["kernel"]
    elif members == "no-dtb":
        del m["devicetree"]
    elif members == "no-storage":
        del m["nand"]
    elif members == "int-version":
        m["Info.plist"] = plistlib.dumps(_info(Version=22))
    elif members == "bootargs-list":
        m["Info.plist"] = plistlib.dumps(_info(bootargs=["console=ttyS0"]))
    elif members == "bad-plist":
        m["Info.plist"] = b"<plist><dict><key>Type</key>"
    elif members == "gz-kernel":
        m["kernel"] = gzip.compress(k[:1 << 20], compresslevel=1)
    elif members == "bad-dtb":
        m["devicetree"] = b"not a dtb" * 10
    elif members == "empty-storage":
        m["nand"] = b""
    rep = check_package(_zip(tmp_path / "p.zip", list(m.items())), device_table())
    assert not rep.ok
    assert code in {p.code for p in rep.problems if p.severity == "error"}, rep.problems


def test_zip_slip_refused(tmp_path, kernel, dtb, disk, armvm):
    bad_names = ["../../etc/cron.d/evil", "/etc/passwd", "C:/Windows/evil", "a\\..\\..\\b",
                 "ok/../../escape", "nul\0byte"]
    members = [("Info.plist", plistlib.dumps(_info())), ("kernel", kernel.read_bytes()[:8192]),
               ("devicetree", dtb.read_bytes()), ("nand", b"x" * 100)]
    members += [(n, b"payload") for n in bad_names if "\0" not in n]
    z = _zip(tmp_path / "slip.zip", members)
    # zipfile cuts names at NUL when writing: craft that one by patching bytes
    raw = bytearray(z.read_bytes())
    rep = check_package(z, device_table())
    unsafe = {p.member for p in rep.problems if p.code == "unsafe-name"}
    assert unsafe == {n for n in bad_names if "\0" not in n}
    assert not rep.ok
    # nothing was extracted anywhere
    assert not list(tmp_path.glob("**/evil")) and not (tmp_path / "escape").exists()
    r = armvm("avh", "check", z)
    assert r.returncode == 1 and "path traversal" in r.stdout
    assert raw  # the archive itself is untouched
    from armvm_oe.avh import unsafe_name
    assert unsafe_name("nul\0byte") and unsafe_name("kernel") is None


def test_zip_bomb_bounded(tmp_path, kernel, dtb, armvm):
    """64 MiB of zeros deflate to ~64 KiB (ratio ~1000): over the limits."""
    zeros = b"\0" * (64 << 20)
    z = _zip(tmp_path / "bomb.zip", [("Info.plist", plistlib.dumps(_info())),
                                     ("kernel", kernel.read_bytes()[:8192]),
                                     ("devicetree", dtb.read_bytes()), ("nand", zeros)])
    assert z.stat().st_size < 1 << 20
    rep = check_package(z, device_table(), Limits(max_total=16 << 20))
    assert not rep.ok and any(p.code == "bomb" and "declare" in p.message for p in rep.problems)
    rep = check_package(z, device_table(), Limits(max_ratio=100))
    assert any(p.code == "bomb" and "ratio" in p.message for p in rep.problems)
    r = armvm("avh", "check", "--max-total", "16M", z)
    assert r.returncode == 1 and "bomb" in r.stdout


def test_lying_header_is_caught_while_streaming(tmp_path, kernel, dtb):
    """A member whose headers declare 1 KiB but whose data inflates to 8 MiB:
    zipfile stops at the declared size and the CRC check reports it."""
    z = _zip(tmp_path / "lie.zip", [("Info.plist", plistlib.dumps(_info())),
                                    ("kernel", kernel.read_bytes()[:8192]),
                                    ("devicetree", dtb.read_bytes()),
                                    ("nand", b"\0" * (8 << 20))])
    raw = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        zi = zf.getinfo("nand")
        lh, size = zi.header_offset, zi.file_size
    struct.pack_into("<I", raw, lh + 22, 1024)             # local header: uncompressed size
    cd = raw.rfind(b"PK\x01\x02" + raw[raw.find(b"PK\x01\x02", raw.find(b"nand") - 100):][4:8])
    # patch every central-directory record of 'nand'
    pos = 0
    while (pos := raw.find(b"PK\x01\x02", pos)) >= 0:
        nlen = struct.unpack_from("<H", raw, pos + 28)[0]
        if raw[pos + 46:pos + 46 + nlen] == b"nand":
            struct.pack_into("<I", raw, pos + 24, 1024)
        pos += 4
    assert cd >= 0 and size == 8 << 20
    z.write_bytes(bytes(raw))
    rep = check_package(z, device_table())
    assert not rep.ok
    assert any(p.code == "corrupt-member" and p.member == "nand" for p in rep.problems)


def test_overlapping_members_refused(tmp_path, kernel, dtb):
    """The non-recursive zip bomb: two central entries share one local file."""
    z = _zip(tmp_path / "ov.zip", [("Info.plist", plistlib.dumps(_info())),
                                   ("kernel", kernel.read_bytes()[:8192]),
                                   ("devicetree", dtb.read_bytes()),
                                   ("nand", b"\0" * (1 << 20))])
    raw = bytearray(z.read_bytes())
    eocd = raw.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack_from("<II", raw, eocd + 12)
    cd = raw[cd_off:cd_off + cd_size]
    # copy the 'nand' record under a new name 'nanc' pointing at the same data
    pos = cd.find(b"PK\x01\x02")
    while pos >= 0:
        nlen, elen, clen = struct.unpack_from("<HHH", cd, pos + 28)
        if cd[pos + 46:pos + 46 + nlen] == b"nand":
            rec = bytearray(cd[pos:pos + 46 + nlen + elen + clen])
            rec[46:50] = b"nanc"
            break
        pos = cd.find(b"PK\x01\x02", pos + 4)
    new_cd = bytes(cd) + bytes(rec)
    count = struct.unpack_from("<H", raw, eocd + 10)[0] + 1
    tail = bytearray(raw[eocd:])
    struct.pack_into("<HHII", tail, 8, count, count, len(new_cd), cd_off)
    z.write_bytes(bytes(raw[:cd_off]) + new_cd + bytes(tail))
    rep = check_package(z, device_table())
    assert any(p.code == "bomb" and "overlap" in p.message for p in rep.problems), rep.problems


def test_not_a_zip(tmp_path, armvm, dtb):
    with pytest.raises(InputError):
        check_package(dtb, device_table())
    r = armvm("avh", "check", dtb)
    assert r.returncode == 2 and "not a readable zip" in r.stderr
