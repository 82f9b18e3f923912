"""One source of truth: the layer's kernel fragments and audit lists are the
output of scripts/gen-kernel-fragments over armvm_oe/requirements.py."""

from __future__ import annotations

import subprocess
import sys

from armvm_oe import requirements as R
from layerpaths import FILES, KMETA, LAYER, ROOT

import armvm_kconfig


def test_committed_files_equal_generator_output():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-kernel-fragments"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_check_mode_detects_a_stale_file(tmp_path, monkeypatch):
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader("gen_kernel_fragments",
                                                  str(ROOT / "scripts" / "gen-kernel-fragments"))
    spec = importlib.util.spec_from_loader("gen_kernel_fragments", loader)
    gen = importlib.util.module_from_spec(spec)
    loader.exec_module(gen)
    for path, text in gen.outputs().items():
        dest = tmp_path / path.relative_to(gen.OUT_DIR)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    monkeypatch.setattr(gen, "OUT_DIR", tmp_path)
    assert gen.main(["--check"]) == 0
    victim = tmp_path / "armvm-kmeta" / "armvm-guest-arm.cfg"
    victim.write_text(victim.read_text().replace("CONFIG_HOTPLUG_PCI_PCIE=y\n", ""))
    assert gen.main(["--check"]) == 1


def test_every_required_option_is_in_fragment_and_audit_list():
    for arch in R.ARCHES:
        frag = armvm_kconfig.parse_config((KMETA / f"armvm-guest-{arch}.cfg").read_text())
        listed = dict(armvm_kconfig.parse_required((FILES / f"armvm-required-{arch}.list").read_text()))
        for req, opt in R.kernel_requirements(arch):
            assert frag.get(opt.name) == "y", (arch, opt.name)
            assert req.id in listed[opt.name], (arch, opt.name, req.id)
        # nothing for the other arch leaks in (ARCH_VIRT/ARM_LPAE/AUTO_ZRELADDR are arm-only)
        other = {o.name for r in R.REQUIREMENTS for o in r.kconfig if arch not in o.arches}
        assert not (other & set(listed) - set(R.kernel_options(arch)))


def test_support_options_and_version_bounds():
    """Support options are in the fragment and the list; a version-bounded
    option is audit-only (not in the one fragment every kernel gets) and
    required only by the kernels that have it."""
    for arch in R.ARCHES:
        frag = armvm_kconfig.parse_config((KMETA / f"armvm-guest-{arch}.cfg").read_text())
        text = (FILES / f"armvm-required-{arch}.list").read_text()
        for opt in R.layer_support(arch):
            assert (opt.name in frag) is (not opt.bounded), (arch, opt.name)
            for version in ("6.1.0", "6.6.57", "6.12.118", "6.18.35"):
                listed = dict(armvm_kconfig.parse_required(text, version))
                assert (opt.name in listed) is opt.applies(version), (arch, opt.name, version)
    arm = (FILES / "armvm-required-arm.list").read_text()
    names = lambda v: {n for n, _ in armvm_kconfig.parse_required(arm, v)}
    assert "ARM_GIC_V3_ITS_PCI" in names("6.6.57") and "IRQ_MSI_LIB" not in names("6.6.57")
    assert "ARM_GIC_V3_ITS_PCI" not in names("6.12") and "IRQ_MSI_LIB" in names("6.18.35")
    assert {"ARM_GIC_V3_ITS_PCI", "IRQ_MSI_LIB"} <= names(None)  # unknown version: all


def test_scc_applies_the_fragment():
    for arch in R.ARCHES:
        scc = (KMETA / f"armvm-guest-{arch}.scc").read_text()
        assert f"kconf non-hardware armvm-guest-{arch}.cfg" in scc.splitlines()


def test_layer_has_no_python_package_dependency():
    """The layer works without armvm_oe installed: nothing in it imports it."""
    for path in LAYER.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".bbclass", ".bb", ".bbappend", ".conf", ".inc"):
            assert "armvm_oe" not in path.read_text().replace("armvm_oe/requirements.py", ""), path
