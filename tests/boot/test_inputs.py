"""run/test/instances without booting: bad inputs give clear errors, the QEMU
command line and the instance store do what the spec asks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from armvm_oe.boottest.detect import guess_arch
from armvm_oe.boottest.result import CellResult, summary_table, write_junit
from armvm_oe.errors import UsageError
from armvm_oe.qemu import InstanceStore, VMConfig, build_argv, find_firmware
from armvm_oe.qemu.firmware import SEARCH


def _env(data_dir, **extra):
    return {"ARMVM_DATA_DIR": str(data_dir), **extra}


# -- bad inputs ---------------------------------------------------------------

def test_gicv2_with_nine_vcpus_refused(armvm, image_aarch64, data_dir):
    p = armvm("run", image_aarch64, "--gic", "2", "--smp", "9", env=_env(data_dir))
    assert p.returncode == 2
    assert "GICv2 with 9 vCPUs" in p.stderr and "--gic 3" in p.stderr
    assert "Traceback" not in p.stderr
    assert not (data_dir / "instances").exists(), "nothing is created for a refused machine"
    p = armvm("test", image_aarch64, "--smp", "9", env=_env(data_dir))
    assert p.returncode == 2 and "GICv2 with 9 vCPUs" in p.stderr
    # GICv3 takes 9 vCPUs
    p = armvm("run", image_aarch64, "--gic", "3", "--smp", "9", "--dry-run", "--snapshot",
              env=_env(data_dir))
    assert p.returncode == 0, p.stderr
    assert "gic-version=3" in p.stdout and "-smp 9" in p.stdout


def test_missing_firmware_names_package(armvm, image_arm, data_dir, tmp_path):
    p = armvm("run", image_arm, "--firmware", tmp_path / "nope.fd", "--vars-template",
              tmp_path / "nope-vars.fd", "--dry-run", env=_env(data_dir))
    assert p.returncode == 2
    assert "nope.fd does not exist" in p.stderr and "qemu-efi-arm" in p.stderr
    with pytest.raises(UsageError) as e:
        find_firmware("aarch64", search=[(str(tmp_path / "a"), str(tmp_path / "b"))])
    assert "apt-get install qemu-efi-aarch64" in e.value.paragraph()
    with pytest.raises(UsageError, match="go together"):
        find_firmware("aarch64", code="/usr/share/AAVMF/AAVMF_CODE.fd")


def test_missing_qemu_binary_names_package(armvm, image_aarch64, data_dir):
    # a PATH with python but no qemu-system-*
    pybin = Path(sys.executable).parent
    assert not (pybin / "qemu-system-aarch64").exists()
    p = armvm("run", image_aarch64, "--dry-run", "--snapshot",
              env=_env(data_dir, PATH=str(pybin)))
    assert p.returncode == 2
    assert "'qemu-system-aarch64' was not found" in p.stderr
    assert "apt-get install qemu-system-arm" in p.stderr
    p = armvm("test", image_aarch64, env=_env(data_dir, PATH=str(pybin)))
    assert p.returncode == 2 and "qemu-system-arm" in p.stderr


def test_unreadable_or_bad_image(armvm, data_dir, tmp_path, image_aarch64, other_user):
    p = armvm("run", tmp_path / "missing.wic", env=_env(data_dir))
    assert p.returncode == 2 and "does not exist" in p.stderr
    junk = tmp_path / "junk.wic"
    junk.write_bytes(os.urandom(4096))
    p = armvm("test", junk, env=_env(data_dir))
    assert p.returncode == 2 and "is not a disk image" in p.stderr
    p = armvm("run", tmp_path, env=_env(data_dir))
    assert p.returncode == 2 and "not a regular file" in p.stderr
    # a file this user cannot read: as root, run the CLI as 'nobody'
    secret = tmp_path / "secret.wic"
    secret.write_bytes(b"\0" * 2048)
    secret.chmod(0)
    tmp_path.chmod(0o755)
    args = ["run", str(secret), "--dry-run"]
    cmd = [sys.executable, "-m", "armvm_oe", *args]
    env = dict(os.environ, NO_COLOR="1", ARMVM_DATA_DIR=str(tmp_path / "nobody-data"),
               ARMVM_CACHE_DIR=str(tmp_path / "nobody-cache"))
    if os.geteuid() == 0:
        for parent in [tmp_path, *tmp_path.parents]:
            os.chmod(parent, os.stat(parent).st_mode | 0o005) if parent != Path("/") else None
        # an interpreter and package copy 'nobody' can read (tests/_otheruser.py)
        cmd = other_user.cmd(args, 65534, 65534)
        env = other_user.env(env)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd="/", timeout=120)
    assert p.returncode == 2, p.stderr
    assert "cannot be read" in p.stderr and "Permission denied" in p.stderr


def test_bad_option_values(armvm, image_aarch64, data_dir):
    p = armvm("test", image_aarch64, "--gic", "4", env=_env(data_dir))
    assert p.returncode == 2 and "--gic" in p.stderr
    p = armvm("run", image_aarch64, "--virtio", "mmio", "--hotplug-ports", "1",
              env=_env(data_dir))
    assert p.returncode == 2 and "needs --virtio pci" in p.stderr
    p = armvm("test", image_aarch64, "--hypervisor", "kvm", "--xen", "/x", env=_env(data_dir))
    assert p.returncode == 2 and "--hypervisor xen" in p.stderr


def test_xen_hypervisor_without_backend_is_clear(monkeypatch, tmp_path):
    """An installation without armvm_oe.xen: --hypervisor xen is a usage
    error that says what to do (the module is hidden from the import, so
    this runs everywhere; it used to skip whenever the module existed)."""
    import argparse

    from armvm_oe.plugins import test as plugin

    monkeypatch.setitem(sys.modules, "armvm_oe.xen", None)      # import now fails
    args = argparse.Namespace(xen=None, timeout=10.0)
    with pytest.raises(UsageError) as e:
        plugin._xen_cell(args, tmp_path / "i.wic", "aarch64", None, tmp_path)
    assert "not available" in str(e.value) and "--hypervisor kvm" in e.value.paragraph()
    assert e.value.exit_code == 2


def test_login_option_is_checked(armvm, image_aarch64, data_dir):
    p = armvm("test", image_aarch64, "--login", "bad user:x", env=_env(data_dir))
    assert p.returncode == 2 and "--login" in p.stderr and "USER[:PASSWORD]" in p.stderr
    assert "Traceback" not in p.stderr


# -- the command line -----------------------------------------------------------

def _cfg(tmp_path, **kw):
    fw = find_firmware(kw.pop("arch", "aarch64"))
    return VMConfig(arch=fw.arch, disk=tmp_path / "d.qcow2", firmware=fw,
                    vars_file=tmp_path / "v.fd", **kw)


def _pairs(argv, flag):
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_argv_spec_machine(tmp_path):
    a = build_argv(_cfg(tmp_path, gic=2, virtio="mmio", console="virtio", smp=4))
    m = _pairs(a, "-M")[0]
    assert "acpi=off" in m and "gic-version=2" in m            # HW-FDT, GUEST-GIC
    drives = _pairs(a, "-drive")
    assert any("if=pflash" in d and "readonly=on" in d and "AAVMF_CODE" in d for d in drives)
    assert any("if=pflash" in d and str(tmp_path / "v.fd") in d and "readonly" not in d
               for d in drives)                                   # FW-VARSTORE: instance's copy
    devs = _pairs(a, "-device")
    assert "virtio-blk-device,drive=hd0" in devs and not any("-pci" in d for d in devs)
    assert any(d.startswith("virtconsole") for d in devs)
    assert _pairs(a, "-serial") == ["null"]
    p = build_argv(_cfg(tmp_path, virtio="pci", console="pl011", hotplug_ports=2,
                        qmp_socket=tmp_path / "q.sock"))
    devs = _pairs(p, "-device")
    assert "virtio-blk-pci,drive=hd0" in devs
    assert sum(d.startswith("pcie-root-port") for d in devs) == 2
    assert _pairs(p, "-serial") == ["chardev:con0"]
    assert _pairs(p, "-qmp")[0].startswith(f"unix:{tmp_path / 'q.sock'}")
    assert "virtualization" not in _pairs(p, "-M")[0]
    # EL2 for a hypervisor guest (the Xen back end asks for it)
    x = build_argv(_cfg(tmp_path, virtualization=True))
    assert "virtualization=on" in _pairs(x, "-M")[0]


def test_argv_aarch32(tmp_path):
    a = build_argv(_cfg(tmp_path, arch="arm"))
    assert a[0].endswith("qemu-system-arm") and "highmem=off" in _pairs(a, "-M")[0]
    assert _pairs(a, "-cpu") == ["cortex-a15"] and "AAVMF32_CODE" in " ".join(a)
    k = build_argv(_cfg(tmp_path, arch="arm", kvm=True), binary="qemu-system-aarch64")
    assert _pairs(k, "-cpu") == ["host,aarch64=off"] and _pairs(k, "-accel") == ["kvm"]


def test_kvm_on_refused_off_arm64(armvm, image_aarch64, data_dir):
    import platform
    if platform.machine() in ("aarch64", "arm64"):
        pytest.skip("this host is arm64: --kvm on may legitimately work")
    p = armvm("run", image_aarch64, "--kvm", "on", "--dry-run", env=_env(data_dir))
    assert p.returncode == 2 and "KVM is not usable" in p.stderr


# -- instances ------------------------------------------------------------------

def test_instance_vars_created_reused_reset(armvm, image_aarch64, data_dir):
    fw = find_firmware("aarch64")
    p = armvm("run", image_aarch64, "--instance", "dev", "--dry-run", "--json", env=_env(data_dir))
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["vars"] == "created" and info["overlay"] == "created"
    vars_file = Path(info["vars_file"])
    assert vars_file.parent == data_dir / "instances" / "dev"
    assert vars_file.read_bytes() == fw.vars_template.read_bytes()
    # the overlay is backed by the image, which stays untouched
    qi = json.loads(subprocess.run(["qemu-img", "info", "--output=json", info["disk"]],
                                   capture_output=True, text=True, check=True).stdout)
    assert qi["format"] == "qcow2" and qi["backing-filename"] == str(image_aarch64.resolve())
    # the guest's writes land in the instance store: simulate one, it is kept
    with open(vars_file, "r+b") as f:
        f.seek(1 << 20)
        f.write(b"guest-wrote-this")
    p = armvm("run", image_aarch64, "--instance", "dev", "--dry-run", "--json", env=_env(data_dir))
    info2 = json.loads(p.stdout)
    assert info2["vars"] == "reused" and info2["overlay"] == "reused"
    assert b"guest-wrote-this" in vars_file.read_bytes()
    # listed
    p = armvm("instances", "--json", env=_env(data_dir))
    inst = json.loads(p.stdout)["instances"]
    assert [i["name"] for i in inst] == ["dev"] and inst[0]["runs"] == 2
    assert inst[0]["arch"] == "aarch64"
    p = armvm("instances", env=_env(data_dir))
    assert "dev" in p.stdout and "aarch64" in p.stdout
    # renewed only on request, by run or by instances
    p = armvm("instances", "--reset-vars", "dev", env=_env(data_dir))
    assert p.returncode == 0, p.stderr
    assert vars_file.read_bytes() == fw.vars_template.read_bytes()
    with open(vars_file, "r+b") as f:
        f.seek(1 << 20)
        f.write(b"again")
    p = armvm("run", image_aarch64, "--instance", "dev", "--reset-vars", "--dry-run", "--json",
              env=_env(data_dir))
    assert json.loads(p.stdout)["vars"] == "reset"
    assert vars_file.read_bytes() == fw.vars_template.read_bytes()
    p = armvm("instances", "--reset-vars", "nosuch", env=_env(data_dir))
    assert p.returncode == 2 and "no instance named 'nosuch'" in p.stderr


def test_instance_bound_to_its_image(armvm, image_aarch64, image_arm, data_dir):
    assert armvm("run", image_aarch64, "--instance", "x", "--dry-run",
                 env=_env(data_dir)).returncode == 0
    p = armvm("run", image_arm, "--instance", "x", "--dry-run", env=_env(data_dir))
    assert p.returncode == 2 and "belongs to another image" in p.stderr


def test_snapshot_leaves_no_state(armvm, image_arm, data_dir):
    p = armvm("run", image_arm, "--snapshot", "--dry-run", "--json", env=_env(data_dir))
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["vars"] == "temporary" and info["overlay"] == "temporary"
    assert info["arch"] == "arm"                     # detected from BOOTARM.EFI
    assert not (data_dir / "instances").exists() or not any((data_dir / "instances").iterdir())


def test_store_api(tmp_path, image_aarch64):
    fw = find_firmware("aarch64")
    st = InstanceStore(tmp_path)
    inst, ev = st.prepare("a", image_aarch64, "aarch64", fw)
    assert ev == {"vars": "created", "overlay": "created"}
    with pytest.raises(UsageError, match="not a valid instance name"):
        st.get("../evil")


def test_arch_detection(image_aarch64, image_arm, tmp_path):
    assert guess_arch(image_aarch64) == "aarch64" and guess_arch(image_arm) == "arm"
    blank = tmp_path / "b.img"
    blank.write_bytes(b"\0" * 8192)
    assert guess_arch(blank) is None


def test_firmware_search_covers_distros():
    flat = [c for pairs in SEARCH.values() for c, _ in pairs]
    for marker in ("/AAVMF/", "/qemu-efi-aarch64/", "/edk2/aarch64/", "/edk2-armvirt/",
                   "/usr/share/qemu/", "/edk2/arm/"):
        assert any(marker in c for c in flat), marker
    assert find_firmware("arm").code.name == "AAVMF32_CODE.fd"


# -- reports --------------------------------------------------------------------

def test_junit_and_summary(tmp_path):
    ok = CellResult("aarch64-gic3-pci-pl011", duration_s=30.5, facts={"gic": "3", "tty": "ttyAMA0",
                    "virtio": ["virtio0:0x0002:pci"]}, params={"hypervisor": "qemu-tcg"})
    ok.add_check("GUEST-GIC", True, "GICv3")
    bad = CellResult("aarch64-gic2-mmio-virtio", log_path=tmp_path / "x.log",
                     params={"hypervisor": "qemu-tcg"})
    bad.add_check("GUEST-CONSOLE", False, "no prompt on hvc0")
    bad.finish()
    skip = CellResult("xen-aarch64", status="skip", message="no xen",
                      params={"hypervisor": "xen"})
    assert ok.finish().status == "pass" and bad.status == "fail"
    path = write_junit([ok, bad, skip], tmp_path / "r.xml")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["aarch64-gic2-mmio-virtio"].find("failure").get("message").startswith(
        "GUEST-CONSOLE")
    assert cases["aarch64-gic3-pci-pl011"].find("failure") is None
    text = summary_table([ok, bad, skip])
    assert "PASS" in text and "FAIL" in text and "gic=3 virtio=pci" in text
    header, rows = text.splitlines()[0], text.splitlines()[2:5]
    assert header.split()[:3] == ["cell", "hypervisor", "result"]
    assert [r.split()[1] for r in rows] == ["qemu-tcg", "qemu-tcg", "xen"]
    # a saved --json report prints the same table
    again = [CellResult.from_dict(json.loads(json.dumps(r.as_dict()))) for r in (ok, bad, skip)]
    assert summary_table(again) == text
    assert text.splitlines()[-1] == "3 cells: 1 pass 1 fail 1 skip"
    with pytest.raises(ValueError):
        CellResult("x", status="maybe")


def test_missing_qemu_names_the_package(armvm, image_aarch64, data_dir, tmp_path):
    """No qemu-system-aarch64 on PATH: exit 2 and the Debian package to
    install, before any instance is created (was: a class-hierarchy assert)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("qemu-img",):
        found = __import__("shutil").which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    p = armvm("test", image_aarch64, "--quick", env=_env(data_dir, PATH=str(bindir)))
    assert p.returncode == 2, p.stderr
    assert "qemu-system-aarch64" in p.stderr and "qemu-system-arm" in p.stderr
    assert "Traceback" not in p.stderr
    assert not (data_dir / "instances").exists()


def test_vars_copy_is_sparse_and_exact(tmp_path):
    """The 64 MiB template is copied without writing its zero chunks, and the
    copy is byte-identical (FW-NO-PRECONFIG compares it before the boot)."""
    from armvm_oe.boottest.matrix import same_content
    from armvm_oe.qemu.instance import copy_vars

    tpl = tmp_path / "tpl.fd"
    data = bytearray(5 * (1 << 20) + 123)          # zeros, a data chunk, a zero tail
    data[(2 << 20) + 7: (2 << 20) + 11] = b"NVAR"
    tpl.write_bytes(bytes(data))
    out = copy_vars(tpl, tmp_path / "i" / "vars.fd")
    assert out.read_bytes() == bytes(data) and same_content(out, tpl)
    assert out.stat().st_mode & 0o777 == 0o600
    assert out.stat().st_blocks * 512 <= 2 << 20     # only the data chunk allocated
    with open(out, "r+b") as f:                     # a guest write is seen
        f.seek(5 << 20)
        f.write(b"x")
    assert not same_content(out, tpl)
    real = find_firmware("aarch64").vars_template
    copy = copy_vars(real, tmp_path / "real.fd")
    assert same_content(copy, real) and copy.stat().st_size == real.stat().st_size


def test_xen_backend_crash_is_one_error_row(monkeypatch, tmp_path):
    """A bug inside the Xen back end must not turn the whole report into a
    traceback: it becomes one `error` row (the matrix rows stay)."""
    import argparse

    import armvm_oe.xen as xen
    from armvm_oe.plugins import test as plugin

    def broken(*a, **k):
        raise TypeError("VMConfig.__init__() got an unexpected keyword argument 'x'")

    monkeypatch.setattr(xen, "run_xen_cell", broken)
    args = argparse.Namespace(xen=None, timeout=10.0)
    r = plugin._xen_cell(args, tmp_path / "i.wic", "aarch64", None, tmp_path)
    assert r.status == "error" and r.hypervisor == "xen" and "TypeError" in r.message
    assert "xen-aarch64" in summary_table([r]) and "ERROR" in summary_table([r])
