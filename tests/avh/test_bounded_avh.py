"""avh check stays bounded and calm on hostile packages that are not bombs
by the ratio rule: an Info file nested thousands of levels deep (a traceback
with --json before), and a large, very compressible storage member (its CRC
check inflated everything, however large: now bounded by --max-read bytes)."""

from __future__ import annotations

import json
import os
import plistlib
import zipfile

import pytest

from armvm_oe.avh import Limits, check_package, device_table
from armvm_oe.avh.check import CHUNK
from armvm_oe.avh.formats import MAX_INFO_DEPTH, json_depth, parse_info, value_depth

INFO = {"Type": "iot", "UniqueIdentifier": "x", "DeviceIdentifier": "rpi4b",
        "Version": "1", "Build": "b"}


def _zip(path, kernel, dtb, info_name, info_bytes, nand=b"x" * 100):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(info_name, info_bytes)
        zf.writestr("kernel", kernel.read_bytes()[:8192])
        zf.writestr("devicetree", dtb.read_bytes())
        zf.writestr("nand", nand)
    return path


DEEP = {
    "json-100000": ("Info.json", b"[" * 100000 + b"]" * 100000),
    "json-unclosed": ("Info.json", b"[" * 100000),
    # parses (below Python's recursion limit) but a JSON writer nesting it in
    # the report overflowed: the traceback with --json
    "json-under-a-key": ("Info.json", json.dumps(dict(INFO, x=0)).encode().replace(
        b'"x": 0', b'"x": ' + b"[" * 900 + b"]" * 900)),
    # plistlib parses XML iteratively: the depth is checked on the value
    "plist-60000": ("Info.plist", plistlib.dumps(dict(INFO, x=0)).replace(
        b"<integer>0</integer>", b"<array>" * 60000 + b"</array>" * 60000)),
}


@pytest.mark.parametrize("case", sorted(DEEP))
@pytest.mark.parametrize("as_json", [False, True])
def test_deeply_nested_info_is_a_clear_problem(tmp_path, armvm, kernel, dtb, case, as_json):
    name, data = DEEP[case]
    z = _zip(tmp_path / "deep.zip", kernel, dtb, name, data)
    r = armvm("avh", "check", *(["--json"] if as_json else []), z, timeout=120)
    assert "Traceback" not in r.stderr and "RecursionError" not in r.stdout + r.stderr, r.stderr
    assert r.returncode == 1, (r.returncode, r.stderr)
    if as_json:
        doc = json.loads(r.stdout)
        probs = [p for p in doc["problems"] if p["code"] == "info-unreadable"]
        assert doc["ok"] is False and doc["info"] is None
        assert probs and "levels deep" in probs[0]["message"], doc["problems"]
    else:
        line = [ln for ln in r.stdout.splitlines() if "info-unreadable" in ln]
        assert line and "levels deep" in line[0] and f"the {MAX_INFO_DEPTH}" in line[0], r.stdout


def test_depth_counters():
    assert json_depth(b'{"a": "[[[[{{{{", "b": {"c": [1, 2]}}') == 3
    assert json_depth(b'{"a": "\\"[[["}') == 1
    assert json_depth(b"[" * 10 ** 6) == MAX_INFO_DEPTH + 1      # stops counting early
    nested: list = []
    cur = nested
    for _ in range(50):
        cur.append([])
        cur = cur[0]
    assert value_depth(nested) == MAX_INFO_DEPTH + 1
    assert value_depth(dict(INFO, bootargs={"normal": "x"})) == 2
    # a real Info (ours: two levels) parses
    assert parse_info(json.dumps(dict(INFO, bootargs={"normal": "x"})).encode(),
                      "Info.json")["Type"] == "iot"


def _sparse(size: int) -> bytes:
    """Mostly zeros with 64 random bytes every 64 KiB: compresses about
    400:1, under the 1000:1 ratio limit, like a sparse disk image."""
    buf = bytearray(size)
    for off in range(0, size, 64 << 10):
        buf[off:off + 64] = os.urandom(64)
    return bytes(buf)


def test_large_storage_member_bounded_by_max_read(tmp_path, armvm, kernel, dtb):
    size = 64 << 20
    z = _zip(tmp_path / "sparse.zip", kernel, dtb, "Info.plist", plistlib.dumps(INFO),
             nand=_sparse(size))
    zi = zipfile.ZipFile(z).getinfo("nand")
    assert zi.file_size / zi.compress_size < Limits().max_ratio       # not a bomb by ratio
    small = 8 << 20
    rep = check_package(z, device_table(), Limits(max_read=small))
    assert rep.ok, [p.as_dict() for p in rep.problems]
    warn = [p for p in rep.problems if p.code == "storage-unverified"]
    assert warn and warn[0].severity == "warn" and "--max-read 2G" in warn[0].message
    assert rep.inflated <= small + CHUNK            # bounded in bytes, whatever the time
    # within the default limit the whole member is inflated and its CRC checked
    rep = check_package(z, device_table())
    assert rep.ok and not [p for p in rep.problems if p.code == "storage-unverified"]
    assert rep.inflated >= size
    # the CLI: --max-read, text and --json
    r = armvm("avh", "check", "--max-read", "8M", z)
    assert r.returncode == 0 and "storage-unverified" in r.stdout, r.stdout + r.stderr
    r = armvm("avh", "check", "--max-read", "8M", "--json", z)
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["inflated_bytes"] <= small + CHUNK
    assert any(p["code"] == "storage-unverified" for p in doc["problems"])


def test_corrupt_storage_is_still_caught_within_max_read(tmp_path, kernel, dtb):
    """The budget does not weaken the default: a storage member whose data
    does not match its CRC is an error when it fits the read limit."""
    z = _zip(tmp_path / "c.zip", kernel, dtb, "Info.plist", plistlib.dumps(INFO),
             nand=_sparse(4 << 20))
    raw = bytearray(z.read_bytes())
    zi = zipfile.ZipFile(z).getinfo("nand")
    raw[zi.header_offset + 30 + len("nand") + 40] ^= 0xFF       # inside the deflate data
    z.write_bytes(bytes(raw))
    rep = check_package(z, device_table())
    assert not rep.ok and any(p.code == "corrupt-member" for p in rep.problems)
