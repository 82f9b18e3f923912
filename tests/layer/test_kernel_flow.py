"""linux-yocto's own configuration flow for both armvm machines, on a
scarthgap (6.6) and a wrynose (6.18) kernel tree: kernel-cache at the
recipe's SRCREV_meta, kern-tools at kern-tools-native's SRCREV, KMACHINE /
LINUX_KERNEL_TYPE / KERNEL_FEATURES / SRC_URI from bitbake's datastore
(tinfoil over the mirrored bitbake + oe-core + meta-yocto + meta-armvm),
then kernel-yocto.bbclass's steps (kernel_flow.py).  meta-armvm's audit and
do_kernel_configcheck's warnings must be empty, also with
features/pci/pci.scc in KERNEL_FEATURES.  Inputs come from ARMVM_MIRRORS
(default /work/.mirror; docs/layer.md lists the repositories); the tests
skip with the reason when one is absent."""

from __future__ import annotations

import pytest

import armvm_kconfig as A
import kernel_flow as F

pytestmark = pytest.mark.kernelflow

PCI = 'KERNEL_FEATURES:append = " features/pci/pci.scc"\n'


_PREPARED: dict[str, tuple] = {}


def _prepare(name, tmp_path_factory):
    if name not in _PREPARED:
        _PREPARED[name] = _checkouts(F.SERIES[name], tmp_path_factory)
    return _PREPARED[name]


@pytest.fixture(scope="module", params=sorted(F.SERIES))
def series(request, tmp_path_factory):
    return _prepare(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def scarthgap(tmp_path_factory):
    return _prepare("scarthgap", tmp_path_factory)


def _checkouts(s, tmp_path_factory):
    missing = F.missing_inputs(s)
    if missing:
        pytest.skip(f"mirrors absent under {F.mirrors()} (ARMVM_MIRRORS): {', '.join(missing)}")
    co = F.Checkouts(s, tmp_path_factory.mktemp(s.name))
    tree, desc = F.kernel_tree(s)
    co.kconfiglib_for(tree)
    print(f"\n{s.name}: {co.pins.tag}, kernel tree {desc}; " + "; ".join(co.pins.notes))
    return co, tree


def _flow(series, tmp_path, machine, extra_conf="", edit=None):
    co, tree = series
    v = co.recipe_vars(machine, extra_conf, tag=str(abs(hash(extra_conf))))
    if edit:
        v = edit(v)
    r = F.configure(co, tree, v, tmp_path)
    audit = A.audit(r.config, (F.FILES / f"armvm-required-{v['ARMVM_KARCH']}.list").read_text(),
                    v["ARMVM_KARCH"])
    print(f"{co.series.name} {machine} {A.kernel_version(r.config)}"
          f"{' +pci.scc' if extra_conf else ''}: audit {'empty' if not audit else 'FAILS'}, "
          f"configcheck {'empty' if not r.configcheck_warnings.strip() else 'WARNS'}; "
          + ", ".join(f"{k} {t:.1f} s" for k, t in r.timings.items()))
    return v, r, audit


def _assert_clean(v, r, audit):
    # the layer's feature is the last fragment queued, whatever came before
    assert r.order[-1] == f"armvm-guest-{v['ARMVM_KARCH']}.scc", r.order
    assert audit == ""
    assert r.configcheck_warnings.strip() == ""
    cfg = A.parse_config(r.config)
    assert cfg.get("HOTPLUG_PCI_PCIE") == "y"


@pytest.mark.parametrize("machine", F.MACHINES)
def test_flow_audit_and_configcheck_empty(series, tmp_path, machine):
    v, r, audit = _flow(series, tmp_path, machine)
    assert v["KMACHINE"] in r.bsp  # the BSP spp found is the machine's
    _assert_clean(v, r, audit)


@pytest.mark.nightly
@pytest.mark.parametrize("machine", F.MACHINES)
def test_flow_with_pci_feature(series, tmp_path, machine):
    v, r, audit = _flow(series, tmp_path, machine, PCI)
    assert "features/pci/pci.scc" in r.order
    assert r.order.index("features/pci/pci.scc") < len(r.order) - 1
    _assert_clean(v, r, audit)


def _old_layout(v):
    """The layer before the fix: its fragment as a SRC_URI .cfg (queued
    before every KERNEL_FEATURES entry), no feature of its own."""
    arch = v["ARMVM_KARCH"]
    feature = f"armvm-guest-{arch}.scc"
    v = dict(v)
    v["KERNEL_FEATURES"] = " ".join(f for f in v["KERNEL_FEATURES"].split() if f != feature)
    v["SRC_URI"] = " ".join(e for e in v["SRC_URI"].split() if "type=kmeta" not in e
                            or "armvm-kmeta" not in e) + f" file://armvm-kmeta/armvm-guest-{arch}.cfg"
    # keep the kernel-cache kmeta entry
    return v


def test_pci_feature_defeats_a_fragment_queued_before_it(scarthgap, tmp_path):
    """The control: with the fragment where SRC_URI puts it, pci.cfg's
    HOTPLUG_PCI_PCIE=n wins and both the audit and configcheck say so."""
    v, r, audit = _flow(scarthgap, tmp_path, "armvm-arm", PCI, edit=_old_layout)
    assert r.order[-1] != "armvm-guest-arm.scc"
    assert A.parse_config(r.config).get("HOTPLUG_PCI_PCIE") == "n"
    assert "CONFIG_HOTPLUG_PCI_PCIE is not set [GUEST-HOTPLUG]" in audit
    assert "HOTPLUG_PCI_PCIE" in r.configcheck_warnings
