"""``armvm-oe build --check``: everything a build does before its first task,
in about a minute once the parse cache is warm (a cold parse takes minutes).

The chain runs as for a build (preflight, checkout at the lock, the container
image, kas), but kas runs ``bitbake -g <target>`` (parse + the whole task
graph, no task executed) and ``bitbake -e virtual/kernel`` instead of
``bitbake <target>``. Then, from the files those wrote (pure functions):

* the task graph holds ``<target>.do_build`` and ``<target>.do_image_wic``,
  wic's tools (``dosfstools-native``; the ``wic-native`` recipe from 6.0 on,
  where wic left oe-core) and the EFI boot loader (``grub-efi``);
* the kernel config audit has its inputs: ``do_armvm_kconfig_audit`` is in the
  graph, the kernel's SRC_URI names the generated fragment and audit list for
  the machine's ARMVM_KARCH, and both files exist in the layer.

Results go to ``<build>/check-report.json`` (the build report's shape, plus a
``check`` list); ``build-report.json`` of the last real build is left alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

CHECK_REPORT = "check-report.json"
KERNEL_ENV = "check-kernel.env"       # under the log dir
# wic-native: wic as a recipe (wrynose and later, wic outside oe-core);
# scarthgap runs oe-core's scripts/wic, which no recipe provides
WIC_PROVIDERS = ("wic-native",)
BOOTLOADERS = ("grub-efi",)


def kas_shell_command(target: str, log_dir: str) -> str:
    """The command kas shell runs in the build dir."""
    return (f"bitbake -g {target} && bitbake -e virtual/kernel > {log_dir}/{KERNEL_ENV}")


def _step(name: str, ok: bool, detail: str) -> dict:
    return {"step": name, "ok": bool(ok), "detail": detail}


def graph_tasks(dot_text: str) -> set[str]:
    """Node names ('recipe.do_task') of bitbake -g's task-depends.dot."""
    return set(re.findall(r'^"([^"]+\.do_[^"]+)" \[label=', dot_text, re.M))


def env_var(env_text: str, name: str) -> Optional[str]:
    """A variable's final value from ``bitbake -e`` output."""
    m = None
    for m in re.finditer(rf'^{re.escape(name)}="(.*)"$', env_text, re.M):
        pass
    return m.group(1) if m else None


def evaluate(build_dir: Path, log_dir: Path, target: str, layer_dir: Optional[Path]) -> list:
    """The checks on what ``bitbake -g`` and ``bitbake -e virtual/kernel`` wrote."""
    steps = []
    dot = build_dir / "task-depends.dot"
    try:
        tasks = graph_tasks(dot.read_text(errors="replace"))
    except OSError:
        tasks = set()
    recipes = {t.rsplit(".do_", 1)[0] for t in tasks}
    steps.append(_step("task-graph", f"{target}.do_build" in tasks,
                       f"{len(tasks)} tasks of {len(recipes)} recipes in {dot.name}, "
                       f"{target}.do_build {'present' if f'{target}.do_build' in tasks else 'MISSING'}"))
    # the image's wic step, the wic that runs it (a recipe from 6.0 on; oe-core's
    # scripts/wic before), mkdosfs for the armvm_efi plugin, the EFI loader
    image_wic = f"{target}.do_image_wic" in tasks
    wic = [r for r in WIC_PROVIDERS if r in recipes]
    boot = [r for r in BOOTLOADERS if r in recipes]
    dosfs = "dosfstools-native" in recipes
    steps.append(_step("image-tools", image_wic and bool(boot) and dosfs,
                       f"{target}.do_image_wic {'present' if image_wic else 'MISSING'}; wic: "
                       f"{', '.join(wic) or 'oe-core scripts/wic (no recipe)'}; "
                       f"dosfstools-native {'present' if dosfs else 'MISSING'}; EFI boot "
                       f"loader: {', '.join(boot) or 'MISSING'}"))
    audit = sorted(t for t in tasks if t.endswith(".do_armvm_kconfig_audit"))
    steps.append(_step("kconfig-audit-task", bool(audit),
                       ", ".join(audit) or "no do_armvm_kconfig_audit in the task graph"))
    try:
        env = (log_dir / KERNEL_ENV).read_text(errors="replace")
    except OSError:
        env = ""
    karch = env_var(env, "ARMVM_KARCH")
    src_uri = env_var(env, "SRC_URI") or ""
    # SRC_URI entries (the fragment's kmeta directory, the audit list) and
    # the layer files they fetch
    want = ["armvm-kmeta", f"armvm-required-{karch}.list"] if karch else []
    need = ([f"armvm-kmeta/armvm-guest-{karch}.scc", f"armvm-kmeta/armvm-guest-{karch}.cfg",
             f"armvm-required-{karch}.list"] if karch else [])
    uris = {e.split(";")[0] for e in src_uri.split()}
    named = [w for w in want if f"file://{w}" in uris]
    files = []
    if layer_dir is not None:
        files = [w for w in need if (layer_dir / "recipes-kernel" / "linux" / "files" / w)
                 .is_file()]
    ok = bool(karch) and named == want and (layer_dir is None or files == need)
    steps.append(_step("kconfig-audit-inputs", ok,
                       f"ARMVM_KARCH={karch or '?'}; in the kernel's SRC_URI: "
                       f"{', '.join(named) or 'none'}; in the layer: "
                       f"{', '.join(files) or 'none'}"))
    return steps
