"""armvm-oe export: each format's rules, checked with the tools that
consume them (qemu-img info, sgdisk -v, bmaptool copy, virt-xml-validate,
tar), and verify's findings unchanged across the round trip."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from _need import need_fixture

from armvm_oe.export import gptgrow, parse_size
from armvm_oe.image import open_image
from armvm_oe.image.gpt import read_gpt
from armvm_oe.image.source import FileSource
from armvm_oe.lib import sha256_file
from armvm_oe.verify.model import SCHEMA as VERIFY_SCHEMA

from conftest import FORMATS, cli

MiB = 1 << 20


def qemu_info(path, fmt=None):
    cmd = ["qemu-img", "info", "--output=json"] + (["-f", fmt] if fmt else []) + [str(path)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def findings(path):
    p = cli("verify", "--json", path)
    assert p.returncode in (0, 1), p.stderr
    doc = json.loads(p.stdout)
    return doc, [(f["id"], f["check"], f["result"], f["reason"]) for f in doc["findings"]]


# -- round trip: verify sees the same image in every format ----------------

@pytest.fixture(scope="module")
def raw_findings(image):
    return {a: findings(image(a)) for a in ("aarch64", "arm")}


@pytest.mark.parametrize("arch", ("aarch64", "arm"))
@pytest.mark.parametrize("fmt", FORMATS)
def test_verify_findings_survive_export(exported, raw_findings, image, arch, fmt):
    out, res = exported(arch, fmt)
    base_doc, base = raw_findings[arch]
    doc, got = findings(out)
    assert got == base                      # every finding, word for word
    assert doc["image"]["size"] == base_doc["image"]["size"] == res["virtual_size"]
    assert doc["image"]["partitions"] == base_doc["image"]["partitions"]
    assert doc["arch"] == arch
    assert res["format"] == fmt and Path(res["output"]) == out
    jsonschema.validate(doc, VERIFY_SCHEMA)             # verify's documented schema
    assert doc["image"]["format"] == {"qcow2": "qcow2", "raw.xz": "xz"}.get(fmt, fmt)


def test_export_never_touches_the_input(image, tmp_path):
    src = tmp_path / "in.wic"
    shutil.copyfile(image("aarch64"), src)
    before, mtime = sha256_file(src), src.stat().st_mtime_ns
    for fmt, extra in (("vhd", ["--size", "100M"]), ("raw", ["--size", "120M"]), ("qcow2", [])):
        p = cli("export", src, "--to", fmt, "-o", tmp_path / f"out.{fmt}", *extra)
        assert p.returncode == 0, p.stderr
    assert sha256_file(src) == before and src.stat().st_mtime_ns == mtime
    # nothing but the outputs is left next to them (the temporary directory is gone)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wic", "out.qcow2", "out.raw",
                                                          "out.vhd"]


# -- per-format rules --------------------------------------------------------

def test_qcow2_is_compressed(exported):
    out, res = exported("aarch64", "qcow2")
    info = qemu_info(out)
    assert info["format"] == "qcow2" and info["virtual-size"] == res["virtual_size"]
    assert "-c" in res["commands"][-1]
    # compressed clusters: the file is much smaller than the data it holds
    raw_alloc = exported("aarch64", "raw")[1]["allocated_bytes"]
    assert out.stat().st_size < raw_alloc * 0.7


def test_vmdk_is_stream_optimized(exported):
    out, _ = exported("aarch64", "vmdk")
    info = qemu_info(out)
    assert info["format"] == "vmdk"
    assert info["format-specific"]["data"]["create-type"] == "streamOptimized"


def test_vhd_is_fixed_and_mib_aligned(exported):
    out, res = exported("arm", "vhd")
    size = out.stat().st_size
    footer = out.read_bytes()[-512:]
    assert footer[:8] == b"conectix"
    assert struct.unpack_from(">I", footer, 60)[0] == 2          # disk type 2 = fixed
    current = struct.unpack_from(">Q", footer, 48)[0]
    assert current % MiB == 0 and size == current + 512
    assert footer[28:32] == b"qem2"                                # force_size: size is exact
    assert qemu_info(out, "vpc")["virtual-size"] == current == res["virtual_size"]


def test_vhd_rounds_an_unaligned_disk_up_and_moves_the_backup_gpt(image, tmp_path):
    """A disk 7 sectors past a MiB boundary: the VHD is the next whole MiB,
    and the backup GPT sits at its new last sector (sgdisk -v is clean)."""
    src = tmp_path / "odd.wic"
    shutil.copyfile(image("aarch64"), src)
    with open(src, "r+b") as f:
        f.truncate(src.stat().st_size + 7 * 512)
    subprocess.run(["sgdisk", "-e", str(src)], check=True, capture_output=True)
    odd = src.stat().st_size
    assert odd % MiB
    out = tmp_path / "odd.vhd"
    p = cli("export", src, "--to", "vhd", "-o", out, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["virtual_size"] == -(-odd // MiB) * MiB
    assert res["grown"]["grown"] and res["grown"]["rounded_to"] == MiB
    with open_image(out) as img:
        assert img.source.format == "vhd" and img.size == res["virtual_size"]
        assert img.gpt.ok, img.gpt.problems
        assert img.gpt.backup.lba == img.size // 512 - 1


def test_vhdx(exported):
    out, res = exported("aarch64", "vhdx")
    info = qemu_info(out)
    assert info["format"] == "vhdx" and info["virtual-size"] == res["virtual_size"]


def test_raw_is_sparse_and_identical(exported, image):
    out, res = exported("aarch64", "raw")
    src = image("aarch64")
    assert sha256_file(out) == sha256_file(src)
    assert res["allocated_bytes"] < out.stat().st_size


def test_raw_xz_bmap_flashes_with_bmaptool(exported, image, tmp_path):
    out, res = exported("aarch64", "raw.xz")
    bmap = Path(res["bmap"])
    assert bmap.name == out.name[:-3] + ".bmap"
    root = ET.parse(bmap).getroot()
    assert root.get("version") == "2.0"
    src = image("aarch64")
    assert int(root.findtext("ImageSize")) == src.stat().st_size
    ranges = root.find("BlockMap").findall("Range")
    mapped = sum(int(b) - int(a) + 1 for a, _, b in
                 (r.text.strip().partition("-") if "-" in r.text else
                  (r.text.strip(), "", r.text.strip()) for r in ranges))
    assert mapped == int(root.findtext("MappedBlocksCount"))
    assert mapped * 4096 < src.stat().st_size             # the holes are not mapped
    # the file checksum, computed the way bmaptool does (its own field zeroed)
    text = bmap.read_text()
    digest = root.findtext("BmapFileChecksum").strip()
    assert hashlib.sha256(text.replace(digest, "0" * 64).encode()).hexdigest() == digest
    if not shutil.which("bmaptool"):
        need_fixture("bmaptool not installed (apt-get install bmap-tools)")
    target = tmp_path / "flashed.img"
    p = subprocess.run(["bmaptool", "copy", "--bmap", str(bmap), str(out), str(target)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert sha256_file(target) == sha256_file(src)
    # a corrupted range is caught by bmaptool through our checksums
    bad = tmp_path / "bad.bmap"
    first = ranges[0].get("chksum")
    bad.write_text(text.replace(first, "f" * 64))
    p = subprocess.run(["bmaptool", "copy", "--bmap", str(bad), str(out),
                        str(tmp_path / "bad.img")], capture_output=True, text=True)
    assert p.returncode != 0


def test_ova_layout_manifest_and_descriptor(exported):
    out, res = exported("aarch64", "ova")
    with tarfile.open(out) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names[0].endswith(".ovf") and names[1].endswith(".mf") and \
            names[2].endswith(".vmdk") and len(names) == 3
        assert all(m.isfile() for m in members)
        data = {m.name: tar.extractfile(m).read() for m in members}
    with open(out, "rb") as f:                       # POSIX ustar, as VMware reads it
        f.seek(257)
        assert f.read(6) == b"ustar\x00"
    for line in data[names[1]].decode().splitlines():
        name, digest = line.split("= ")
        assert name.startswith("SHA256(") and name.endswith(")")
        assert hashlib.sha256(data[name[7:-1]]).hexdigest() == digest
    ns = {"ovf": "http://schemas.dmtf.org/ovf/envelope/1",
          "vmw": "http://www.vmware.com/schema/ovf",
          "vssd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
          "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
                  "CIM_ResourceAllocationSettingData"}
    env = ET.fromstring(data[names[0]])
    q = "{%s}" % ns["ovf"]
    f = env.find("ovf:References/ovf:File", ns)
    assert f.get(q + "href") == names[2] and int(f.get(q + "size")) == len(data[names[2]])
    disk = env.find("ovf:DiskSection/ovf:Disk", ns)
    assert int(disk.get(q + "capacity")) == res["virtual_size"]
    assert disk.get(q + "format").endswith("#streamOptimized")
    hw = env.find("ovf:VirtualSystem/ovf:VirtualHardwareSection", ns)
    cfg = {c.get("{%s}key" % ns["vmw"]): c.get("{%s}value" % ns["vmw"])
           for c in hw.findall("vmw:Config", ns)}
    assert cfg["firmware"] == "efi"
    assert hw.find("ovf:System/vssd:VirtualSystemType", ns).text.startswith("vmx-")
    os_sec = env.find("ovf:VirtualSystem/ovf:OperatingSystemSection", ns)
    assert os_sec.get("{%s}osType" % ns["vmw"]) == "other6xLinux64Guest"
    items = {i.findtext("rasd:ResourceType", namespaces=ns): i for i in hw.findall("ovf:Item", ns)}
    assert items["17"].findtext("rasd:HostResource", namespaces=ns) == "ovf:/disk/vmdisk1"


def test_arm_ova_names_the_32bit_guest(exported):
    out, _ = exported("arm", "ova")
    with tarfile.open(out) as tar:
        ovf = tar.extractfile(tar.getmembers()[0]).read().decode()
    assert 'osType="other6xLinuxGuest"' in ovf and "armv7" in ovf


# -- --size: grow and relocate the backup GPT ---------------------------------

def test_size_grows_and_moves_backup_gpt(exported, image):
    out, res = exported("aarch64", "raw", "--size", "256M")
    assert out.stat().st_size == 256 * MiB == res["virtual_size"]
    p = subprocess.run(["sgdisk", "-v", str(out)], capture_output=True, text=True)
    assert "No problems found" in p.stdout, p.stdout
    with FileSource(out) as src:
        gpt = read_gpt(src)
    assert gpt.ok, gpt.problems
    assert gpt.primary.backup_lba == gpt.backup.lba == 256 * MiB // 512 - 1
    assert gpt.primary.last_usable == 256 * MiB // 512 - 34
    with FileSource(image("aarch64")) as src:
        assert [p.as_dict() for p in read_gpt(src).partitions] == \
            [p.as_dict() for p in gpt.partitions]            # partitions untouched
    # protective MBR covers the new disk
    mbr = out.read_bytes()[:512]
    assert struct.unpack_from("<I", mbr, 446 + 12)[0] == 256 * MiB // 512 - 1


def test_plain_truncate_is_what_the_relocation_fixes(image, tmp_path):
    """The check above can fail: a disk grown without moving the backup GPT
    is reported by the same reader (and fixed by gptgrow)."""
    disk = tmp_path / "grown.raw"
    shutil.copyfile(image("aarch64"), disk)
    with open(disk, "r+b") as f:
        f.truncate(200 * MiB)
    with FileSource(disk) as src:
        assert any("backup" in p for p in read_gpt(src).problems)
    gptgrow.grow(disk, 200 * MiB)
    with FileSource(disk) as src:
        assert read_gpt(src).ok
    assert "No problems found" in subprocess.run(["sgdisk", "-v", str(disk)],
                                                 capture_output=True, text=True).stdout


def test_size_grows_qcow2_and_vhd(exported):
    out, res = exported("arm", "qcow2", "--size", "1G")
    assert qemu_info(out)["virtual-size"] == 1 << 30
    with open_image(out) as img:
        assert img.gpt.ok and img.gpt.backup.lba == (1 << 30) // 512 - 1


def test_compressed_input(image, tmp_path):
    src = tmp_path / "img.wic.zst"
    subprocess.run(["zstd", "-q", "-o", str(src), str(image("arm"))], check=True)
    p = cli("export", src, "--to", "vhdx", "-o", tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert Path(res["output"]).name == "img.vhdx"                # name from the input
    assert res["input_format"] == "zstd"
    assert findings(Path(res["output"]))[1] == findings(image("arm"))[1]


def test_export_of_an_export(exported, tmp_path):
    vmdk, _ = exported("aarch64", "vmdk")
    p = cli("export", vmdk, "--to", "vhd", "-o", tmp_path / "x.vhd")
    assert p.returncode == 0, p.stderr
    assert findings(tmp_path / "x.vhd")[1] == findings(vmdk)[1]


# -- libvirt domain -----------------------------------------------------------

def _validate(xml: Path):
    if not shutil.which("virt-xml-validate") or not shutil.which("xmllint"):
        need_fixture("virt-xml-validate/xmllint not installed (libvirt-clients, libxml2-utils)")
    return subprocess.run(["virt-xml-validate", str(xml), "domain"], capture_output=True, text=True)


@pytest.mark.parametrize("arch", ("aarch64", "arm"))
def test_libvirt_domain_validates(exported, arch):
    out, res = exported(arch, "qcow2", "--libvirt-xml")
    xml = Path(res["libvirt_xml"])
    assert xml == out.with_name(out.name + ".xml")
    p = _validate(xml)
    assert p.returncode == 0, p.stdout + p.stderr
    dom = ET.parse(xml).getroot()
    assert dom.find("os").get("firmware") == "efi"
    t = dom.find("os/type")
    assert t.get("machine") == "virt" and t.get("arch") == {"aarch64": "aarch64",
                                                            "arm": "armv7l"}[arch]
    feats = {f.get("name"): f.get("enabled") for f in dom.findall("os/firmware/feature")}
    assert feats == {"secure-boot": "no", "enrolled-keys": "no"}
    assert dom.find("features/acpi") is None                    # FDT only
    assert dom.find("os/nvram") is None or dom.find("os/nvram").text is None  # libvirt's per-domain copy
    disk = dom.find("devices/disk")
    assert disk.find("target").get("bus") == "virtio"
    assert disk.find("source").get("file") == str(out.resolve())
    assert disk.find("driver").get("type") == "qcow2"
    assert dom.find("devices/interface/model").get("type") == "virtio"
    assert dom.find("devices/serial/target/model").get("name") == "pl011"
    assert sorted(c.find("target").get("type") for c in dom.findall("devices/console")) == \
        ["serial", "virtio"]


def test_libvirt_domain_explicit_firmware_validates(image, tmp_path):
    code, vars_t = "/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"
    if not os.path.exists(code):
        need_fixture("AAVMF not installed (qemu-efi-aarch64)")
    out = tmp_path / "a.vhd"
    p = cli("export", image("aarch64"), "--to", "vhd", "-o", out, "--libvirt-xml",
            str(tmp_path / "dom.xml"), "--firmware", code, "--vars-template", vars_t)
    assert p.returncode == 0, p.stderr
    v = _validate(tmp_path / "dom.xml")
    assert v.returncode == 0, v.stdout + v.stderr
    dom = ET.parse(tmp_path / "dom.xml").getroot()
    assert dom.find("os/loader").text == code and dom.find("os/loader").get("type") == "pflash"
    assert dom.find("os/nvram").get("template") == vars_t
    assert dom.find("os/nvram").text is None          # the path is libvirt's, per domain
    assert dom.find("devices/disk/driver").get("type") == "vpc"


def test_validator_rejects_a_broken_domain(exported, tmp_path):
    """The validation above can fail: a domain with an unknown element does."""
    _, res = exported("aarch64", "qcow2", "--libvirt-xml")
    bad = tmp_path / "bad.xml"
    bad.write_text(Path(res["libvirt_xml"]).read_text().replace("<vcpu>", "<vcpus>")
                   .replace("</vcpu>", "</vcpus>"))
    assert _validate(bad).returncode != 0


# -- errors and safety ----------------------------------------------------------

def _one_paragraph(p):
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    err = [line for line in p.stderr.splitlines() if line.startswith("armvm-oe: error:")]
    assert len(err) == 1
    return err[0]


def test_never_overwrites_without_force(image, tmp_path):
    out = tmp_path / "x.qcow2"
    out.write_bytes(b"precious")
    msg = _one_paragraph(cli("export", image("aarch64"), "--to", "qcow2", "-o", out))
    assert "already exists" in msg and "--force" in msg
    assert out.read_bytes() == b"precious"
    assert cli("export", image("aarch64"), "--to", "qcow2", "-o", out, "--force").returncode == 0
    assert qemu_info(out)["format"] == "qcow2"
    # a companion file counts too: the bmap of a raw.xz
    (tmp_path / "y.raw.bmap").write_text("mine")
    msg = _one_paragraph(cli("export", image("aarch64"), "--to", "raw.xz",
                             "-o", tmp_path / "y.raw.xz"))
    assert "y.raw.bmap already exists" in msg and not (tmp_path / "y.raw.xz").exists()


def test_refuses_to_write_over_its_input(image, tmp_path):
    src = tmp_path / "same.raw"
    shutil.copyfile(image("aarch64"), src)
    before = sha256_file(src)
    msg = _one_paragraph(cli("export", src, "--to", "raw", "-o", src, "--force"))
    assert "input" in msg
    assert sha256_file(src) == before


@pytest.mark.parametrize("args,needle", [
    (["--to", "qcow2", "--size", "12X"], "is not a size"),
    (["--to", "qcow2", "--size", "10M"], "smaller than the image"),
    (["--to", "ova", "--libvirt-xml"], "cannot use a ova file"),
    (["--to", "raw.xz", "--libvirt-xml"], "cannot use a raw.xz file"),
    (["--to", "vhdx", "--libvirt-xml"], "no 'vhdx' disk format"),   # seen at virsh define
    (["--to", "vmdk", "--libvirt-xml"], "streamOptimized"),
    (["--to", "qcow2", "-o", "/nonexistent-dir/x.qcow2"], "does not exist"),
])
def test_usage_errors(image, tmp_path, args, needle):
    msg = _one_paragraph(cli("export", image("aarch64"), *args, cwd=tmp_path))
    assert needle in msg
    assert not [p for p in tmp_path.iterdir()]                  # nothing written


def test_bad_inputs(tmp_path):
    junk = tmp_path / "junk.wic"
    junk.write_bytes(os.urandom(4096))
    assert "not a disk image" in _one_paragraph(cli("export", junk, "--to", "qcow2",
                                                    cwd=tmp_path))
    assert "does not exist" in _one_paragraph(cli("export", tmp_path / "nope.wic", "--to",
                                                  "vhd", cwd=tmp_path))
    (tmp_path / "empty.wic").write_bytes(b"")
    assert "empty" in _one_paragraph(cli("export", tmp_path / "empty.wic", "--to", "vhd",
                                         cwd=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.wic", "junk.wic"]


def test_container_pointing_at_another_file_is_refused(image, tmp_path):
    """A VMDK descriptor or a qcow2 with a backing file would make qemu-img
    read some other file on the host: verify, test and export refuse them."""
    secret = tmp_path / "secret.raw"
    shutil.copyfile(image("aarch64"), secret)
    desc = tmp_path / "evil.vmdk"
    desc.write_text('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                    'createType="monolithicFlat"\n\n'
                    f'RW {secret.stat().st_size // 512} FLAT "{secret}" 0\n\n'
                    'ddb.adapterType = "ide"\n')
    overlay = tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(secret),
                    str(overlay)], check=True)
    assert "extent" in _one_paragraph(cli("verify", desc))
    # (verify's own qcow2 reader, armvm_oe/image/source.py, is issue 16's)
    for bad, what in ((desc, "extent"), (overlay, "backing file")):
        assert what in _one_paragraph(cli("export", bad, "--to", "raw", "-o",
                                          tmp_path / "o.raw"))
    assert not (tmp_path / "o.raw").exists()


def test_json_result_and_help(exported):
    _, res = exported("aarch64", "vhd")
    for key in ("input", "input_format", "format", "output", "virtual_size", "bytes",
                "allocated_bytes", "seconds", "commands", "grown", "arch"):
        assert key in res
    assert res["commands"][-1][1:7] == ["convert", "-f", "raw", "-O", "vpc", "-o"]
    h = cli("export", "--help")
    assert h.returncode == 0 and "example:" in h.stdout and "--to" in h.stdout


def test_parse_size():
    assert parse_size("16G") == 16 << 30 == parse_size("16GiB") == parse_size("16g")
    assert parse_size("4096M") == 4 << 30 and parse_size("512") == 512
    with pytest.raises(Exception):
        parse_size("1.5G")


def test_progress_bar_only_on_a_terminal(image, tmp_path):
    import pexpect

    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    out = tmp_path / "tty.vmdk"
    text = pexpect.run(f"{sys.executable} -m armvm_oe export {image('aarch64')} --to vmdk "
                       f"-o {out}", env=env, timeout=300, encoding="utf-8")
    assert "vmdk:" in text and re.search(r"\d+%\|", text), text      # tqdm's bar
    p = cli("export", image("aarch64"), "--to", "vmdk", "-o", tmp_path / "pipe.vmdk")
    assert p.returncode == 0 and "%|" not in p.stderr and "\r" not in p.stderr


def test_interrupt_leaves_nothing_behind(image, tmp_path):
    """SIGINT in the middle of a long export (xz of a 4 GiB sparse disk):
    exit 130, no output, no temporary directory."""
    src = tmp_path / "in" / "big.wic"
    src.parent.mkdir()
    shutil.copyfile(image("aarch64"), src)
    gptgrow.grow(src, 4 << 30)
    outdir = tmp_path / "out"
    outdir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "armvm_oe", "export", str(src), "--to",
                             "raw.xz", "-o", str(outdir / "big.raw.xz")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, NO_COLOR="1"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(outdir.iterdir()):
        time.sleep(0.05)                     # the temporary directory appears: work started
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert list(outdir.iterdir()) == []


def test_json_result_matches_its_schema(exported):
    import jsonschema

    from armvm_oe import schemas
    for fmt in ("vhd", "ova", "raw.xz"):
        schemas.validate("export", exported("aarch64", fmt)[1])
    schemas.validate("export", exported("aarch64", "qcow2", "--libvirt-xml")[1])


def test_test_command_errors_stay_one_paragraph(tmp_path):
    """armvm-oe test now unpacks containers first: its input errors are
    still one paragraph (as another user, a file it cannot read)."""
    junk = tmp_path / "junk.vmdk"
    junk.write_bytes(b"KDMV" + os.urandom(4092))
    msg = _one_paragraph(cli("test", junk, cwd=tmp_path))
    assert "qemu-img could not read" in msg


# an unreadable image given to 'test': tests/test_bad_input_sweep.py (as uid
# 65534 when the suite runs as root)


def test_kvm_domain_validates(tmp_path):
    """--libvirt-type kvm (an Arm host with /dev/kvm): host-passthrough CPU."""
    from armvm_oe.export.libvirt import domain_xml

    xml = tmp_path / "kvm.xml"
    xml.write_text(domain_xml("k", "aarch64", tmp_path / "d.qcow2", "qcow2", domain_type="kvm"))
    v = _validate(xml)
    assert v.returncode == 0, v.stdout + v.stderr
    dom = ET.parse(xml).getroot()
    assert dom.get("type") == "kvm" and dom.find("cpu").get("mode") == "host-passthrough"
