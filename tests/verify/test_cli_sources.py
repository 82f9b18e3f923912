"""The real CLI: exit codes, JSON, compressed and qcow2 inputs, bad files."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from _tty import ANSI, clean_env, on_pipes, on_tty

from tests.verify import imagegen as g


def test_compliant_cli_text_and_json(image, verify_cli, validate):
    rc, out, err, _ = verify_cli(image("aarch64"))
    assert rc == 0, out + err
    assert "Image format" in out and "VM Platform" in out and "COMPLIANT" in out
    rc, out, err, doc = verify_cli(image("aarch64"), "--json")
    assert rc == 0 and validate(doc)["compliant"] is True


@pytest.mark.parametrize("where", ["pipe", "tty+NO_COLOR", "tty"])
def test_colour_only_on_a_tty_without_no_color(image, tmp_path, where):
    """Each condition alone: a pipe without NO_COLOR, NO_COLOR on a terminal;
    the plain terminal is the control that shows the other two can fail."""
    argv = [sys.executable, "-m", "armvm_oe", "verify", str(image("aarch64"))]
    if where == "pipe":
        rc, out, err = on_pipes(argv, clean_env(no_color=False), tmp_path)
        text = out + err
    else:
        rc, text = on_tty(argv, clean_env(no_color=where != "tty"), tmp_path)
    assert rc == 0 and "COMPLIANT" in text, text
    assert (ANSI in text) == (where == "tty"), text


def test_noncompliant_cli_names_reason_and_fix(image, verify_cli, validate):
    rc, out, err, _ = verify_cli(image("aarch64", "devicetree-line"))
    assert rc == 1
    assert "FAIL" in out and "HW-FDT" in out and "fix:" in out and "NOT COMPLIANT" in out
    rc, out, err, doc = verify_cli(image("aarch64", "devicetree-line"), "--json")
    assert rc == 1 and validate(doc)["exit_code"] == 1
    fdt = [f for f in doc["findings"] if f["id"] == "HW-FDT"][0]
    assert fdt["result"] == "fail" and fdt["section"] == "Hardware Description"


def test_arch_option_mismatch(image, verify_cli):
    rc, out, err, doc = verify_cli(image("aarch64"), "--arch", "arm", "--json")
    assert rc == 1
    rem = [f for f in doc["findings"] if f["id"] == "IMG-REMOVABLE-PATH"][0]
    assert rem["result"] == "fail" and "BOOTARM.EFI" in rem["reason"] and "BOOTAA64" in rem["reason"]


@pytest.mark.parametrize("content,what", [(b"", "is empty"), (None, "does not exist")])
def test_unreadable_inputs_exit_2(tmp_path, verify_cli, content, what):
    p = tmp_path / "x.wic"
    if content is not None:
        p.write_bytes(content)
    rc, out, err, _ = verify_cli(p)
    assert rc == 2 and what in err and "Traceback" not in err
    rc, out, err, doc = verify_cli(p, "--json")
    assert rc == 2 and doc["exit_code"] == 2 and what in doc["what"]
    rc, out, err, _ = verify_cli(tmp_path)
    assert rc == 2 and "directory" in err


def test_random_bytes_is_not_a_disk_image(tmp_path, verify_cli):
    """The exit-code contract: not a disk image at all is bad input (exit 2),
    as in 'armvm-oe test'; a disk image with a broken table is a finding."""
    p = tmp_path / "random.img"
    p.write_bytes(random.Random(7).randbytes(3 << 20))
    rc, out, err, doc = verify_cli(p, "--json")
    assert rc == 2 and "is not a disk image" in err and "Traceback" not in err
    assert doc["exit_code"] == 2


@pytest.mark.parametrize("tool,ext,fmt", [
    ("gzip", "gz", "gzip"), ("bzip2", "bz2", "bzip2"), ("zstd", "zst", "zstd"),
    pytest.param("xz", "xz", "xz", marks=pytest.mark.nightly)])     # slow to compress
def test_compressed_streamed(image, tmp_path, verify_cli, validate, tool, ext, fmt):
    src = image("aarch64", "fat16")          # a non-compliant one: the finding must survive
    out = tmp_path / f"disk.wic.{ext}"
    with open(out, "wb") as f:
        subprocess.run([tool, "-1", "-c", str(src)], stdout=f, check=True)
    rc, _, err, doc = verify_cli(out, "--json")
    assert rc == 1, err
    validate(doc)
    assert doc["image"]["format"] == fmt and doc["image"]["size"] == os.path.getsize(src)
    res = {f["check"]: f["result"] for f in doc["findings"]}
    assert res["esp-fat-type"] == "fail" and res["gpt-headers"] == "pass"
    assert doc["kernel"]["config_source"].startswith("root:/boot/config-")  # debugfs on a spooled partition
    # a truncated stream is unreadable input
    data = out.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    rc, _, err, _ = verify_cli(out)
    assert rc == 2 and "could not be decompressed" in err and "Traceback" not in err


def test_qcow2_through_qemu_img(image, tmp_path, verify_cli, validate):
    q = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", str(image("arm")), str(q)],
                   check=True)
    rc, out, err, doc = verify_cli(q, "--json")
    assert rc == 0, err
    assert validate(doc)["image"]["format"] == "qcow2" and doc["arch"] == "arm"
    # without qemu-img on PATH: a clear ToolMissing error naming the package
    bindir = tmp_path / "bin"
    bindir.mkdir()
    rc, out, err, _ = verify_cli(q, env={"PATH": str(bindir)})
    assert rc == 2 and "qemu-img" in err and "qemu-utils" in err and "Traceback" not in err


def test_kernel_config_option(image, tmp_path, verify_cli):
    from armvm_oe.testing import debian
    _, cfg, _ = debian.kernel("aarch64")
    text = cfg.read_text().replace("CONFIG_ARM_GIC_V3=y", "# CONFIG_ARM_GIC_V3 is not set")
    p = tmp_path / "my.config"
    p.write_text(text)
    rc, out, err, doc = verify_cli(image("aarch64", "no-kernel-config"), "--kernel-config", p,
                                   "--json")
    assert rc == 1
    gic = [f for f in doc["findings"] if f["id"] == "GUEST-GIC"][0]
    assert gic["result"] == "fail" and "CONFIG_ARM_GIC_V3" in gic["reason"]
    assert doc["kernel"]["config_source"] == f"--kernel-config {p}"
    # a kernel-like blob with embedded IKCONFIG works as --kernel-config too
    k = tmp_path / "Image"
    k.write_bytes(g.fake_arm64_kernel(cfg.read_text()))
    rc, out, err, doc = verify_cli(image("aarch64", "no-kernel-config"), "--kernel-config", k,
                                   "--json")
    assert rc == 0 and doc["kernel"]["config_source"] == f"IKCONFIG of {k}"
    junk = tmp_path / "junk"
    junk.write_bytes(b"\0" * 100)
    rc, out, err, _ = verify_cli(image("aarch64"), "--kernel-config", junk)
    assert rc == 2 and "holds no kernel configuration" in err


def test_no_rootfs_gives_unknown(image, verify_cli):
    rc, out, err, doc = verify_cli(image("aarch64"), "--no-rootfs", "--json")
    assert rc == 0
    xen = [f for f in doc["findings"] if f["id"] == "GUEST-XEN"][0]
    assert xen["result"] == "unknown" and "no embedded IKCONFIG" in xen["reason"]


def test_help_has_example(verify_cli):
    rc, out, err, _ = verify_cli("--help")
    assert rc == 0 and "example:" in out and "armvm-oe verify" in out
