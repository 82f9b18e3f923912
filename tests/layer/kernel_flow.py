"""linux-yocto's kernel configuration flow, run outside bitbake with the
tools and metadata the recipes pin, read from local mirrors (ARMVM_MIRRORS,
layout <owner>+<name>/repo; never committed).

The steps are kernel-yocto.bbclass's, in its order:
  do_kernel_metadata config:  spp --find (BSP), scc of
      [BSP] [SRC_URI .scc/.cfg] [KERNEL_FEATURES]  -> .kernel-meta
  do_kernel_configme:          merge_config.sh -O B $(scc --configs)
  do_configure (kernel.bbclass): make olddefconfig
  do_kernel_configcheck:       symbol_why.py --mismatches [--classify],
                               --invalid [--strict] (warnings by level)
  do_armvm_kconfig_audit:      meta-armvm's audit (lib/armvm_kconfig.py)
The recipe variables (KMACHINE, LINUX_KERNEL_TYPE, KERNEL_FEATURES,
SRCREV_meta, SRC_URI, audit levels) come from bitbake's own datastore
(tinfoil, kernel_vars.py) over the mirrored bitbake/oe-core/meta-yocto."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe import lib

HERE = Path(__file__).resolve().parent
LAYER = HERE.parents[1] / "meta-armvm"
BBAPPEND = LAYER / "recipes-kernel" / "linux" / "linux-yocto_%.bbappend"
FILES = LAYER / "recipes-kernel" / "linux" / "files"

OECORE = "openembedded+openembedded-core"
BITBAKE = "openembedded+bitbake"
METAYOCTO = "yoctoproject+meta-yocto"
KCACHE = "MontaVista-OpenSourceTechnology+yocto-kernel-cache"
KTOOLS = "avnet-embedded+yocto-kernel-tools"


@dataclass(frozen=True)
class Series:
    name: str
    tag_re: str          # the series' point-release tags
    recipe: str          # its linux-yocto recipe
    kernel: str          # kernel series of that recipe
    trees: tuple[str, ...]  # mirrored kernel trees of that series, first found wins


SERIES = {
    "scarthgap": Series("scarthgap", r"^yocto-5\.0(\.\d+)?$", "linux-yocto_6.6.bb", "6.6",
                        ("lxdklp+linux-6.6.y",)),
    "wrynose": Series("wrynose", r"^yocto-6\.0(\.\d+)?$", "linux-yocto_6.18.bb", "6.18",
                      ("leftymods+linux-6.18.y",)),
}
MACHINES = ("armvm-aarch64", "armvm-arm")
CONFIG_PATHS = (":(glob)**/Kconfig*", ":(glob)**/Makefile*", ":(glob)**/Kbuild*", "scripts",
                ":(glob)arch/*/configs/**", ":(glob)arch/*/tools/**")
CROSS = {"arm64": "aarch64-linux-gnu-", "arm": "arm-linux-gnueabi-"}


def mirrors() -> Path:
    return Path(os.environ.get("ARMVM_MIRRORS", "/work/.mirror"))


def repo(name: str) -> Path | None:
    for p in (mirrors() / name / "repo", mirrors() / name / "repo" / ".git"):
        if (p / "HEAD").exists():
            return p
    return None


def git(gitdir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], check=True,
                          capture_output=True, text=True).stdout


def has_commit(gitdir: Path, rev: str) -> bool:
    return subprocess.run(["git", f"--git-dir={gitdir}", "cat-file", "-e", rev + "^{commit}"],
                          capture_output=True).returncode == 0


def archive(gitdir: Path, rev: str, dest: Path, *paths: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.git-archive.log", "w+") as log:
        a = subprocess.Popen(["git", f"--git-dir={gitdir}", "archive", rev, *paths],
                             stdout=subprocess.PIPE, stderr=log)
        t = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=a.stdout)
        if a.wait() != 0 or t.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"git archive {rev} of {gitdir} failed: {log.read()[-2000:]}")
    return dest


def _vkey(tag: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", tag))


def tags(gitdir: Path, pattern: str) -> list[str]:
    """The series' tags, newest first."""
    return sorted((t for t in git(gitdir, "tag").split() if re.match(pattern, t)),
                  key=_vkey, reverse=True)


def missing_inputs(series: Series) -> list[str]:
    out = [n for n in (OECORE, BITBAKE, METAYOCTO, KCACHE, KTOOLS) if repo(n) is None]
    if not any(repo(t) for t in series.trees):
        out.append(" or ".join(series.trees))
    return out


@dataclass
class Pins:
    """What the series' newest point release pins, and what was used."""
    tag: str
    bitbake_tag: str
    meta_yocto_rev: str
    srcrev_meta: str
    kmeta_branch: str
    kern_tools: str
    used_meta: str
    used_tools: str
    notes: list[str] = field(default_factory=list)


def _recipe_text(oe: Path, tag: str, path: str) -> str:
    return git(oe, "show", f"{tag}:{path}")


def _srcrev_meta(text: str) -> str:
    return re.search(r'^SRCREV_meta \?= "([0-9a-f]{40})"', text, re.M).group(1)


def pins(series: Series) -> Pins:
    oe, kc, kt = repo(OECORE), repo(KCACHE), repo(KTOOLS)
    all_tags = tags(oe, series.tag_re)
    tag = all_tags[0]
    recipe = _recipe_text(oe, tag, f"meta/recipes-kernel/linux/{series.recipe}")
    meta = _srcrev_meta(recipe)
    branch = re.search(r"yocto-kernel-cache;[^\"]*branch=([^;\s\"]+)", recipe).group(1)
    tools = re.search(r'^SRCREV = "([0-9a-f]{40})"',
                      _recipe_text(oe, tag, "meta/recipes-kernel/kern-tools/kern-tools-native_git.bb"),
                      re.M).group(1)
    bbtags = tags(repo(BITBAKE), series.tag_re)
    my = repo(METAYOCTO)
    mytags = tags(my, series.tag_re)
    p = Pins(tag, tag if tag in bbtags else bbtags[0], mytags[0] if mytags else "",
             meta, branch, tools, meta, tools)
    if not mytags:
        p.meta_yocto_rev = git(my, "rev-parse", f"refs/heads/{series.name}").strip()
        p.notes.append(f"meta-yocto has no {series.name} tag here: its {series.name} branch head "
                       f"{p.meta_yocto_rev[:10]} is used")
    elif mytags[0] != tag:
        p.notes.append(f"meta-yocto's newest {series.name} tag here is {mytags[0]} (not {tag})")
    if not has_commit(kc, meta):
        for older in all_tags[1:]:
            m = _srcrev_meta(_recipe_text(oe, older, f"meta/recipes-kernel/linux/{series.recipe}"))
            if has_commit(kc, m):
                p.used_meta = m
                p.notes.append(f"kernel-cache {meta[:10]} ({tag}'s SRCREV_meta) is not in the "
                               f"mirror: {older}'s {m[:10]} is used")
                break
        else:
            raise LookupError(f"no SRCREV_meta of {series.name} is in the kernel-cache mirror")
    if not has_commit(kt, tools):
        head = git(kt, "rev-parse", "refs/heads/master").strip()
        p.used_tools = head
        p.notes.append(f"kern-tools {tools[:10]} ({tag}'s SRCREV) is not in the mirror: its "
                       f"master {head[:10]} is used")
    return p


class Checkouts:
    """bitbake, oe-core, meta-yocto, kernel-cache and kern-tools of one series,
    extracted from the mirrors into ``root`` (a temporary directory)."""

    def __init__(self, series: Series, root: Path):
        self.series, self.root, self.pins = series, root, pins(series)
        p = self.pins
        self.bitbake = archive(repo(BITBAKE), p.bitbake_tag, root / "bitbake")
        self.oecore = archive(repo(OECORE), p.tag, root / "oe-core", "meta", "scripts")
        self.metayocto = archive(repo(METAYOCTO), p.meta_yocto_rev, root / "meta-yocto", "meta-poky")
        self.kmeta = archive(repo(KCACHE), p.used_meta, root / "kernel-meta")
        self.ktools = archive(repo(KTOOLS), p.used_tools, root / "kern-tools") / "tools"

    def kconfiglib_for(self, tree: Path) -> None:
        """kern-tools' Kconfiglib learnt Linux 6.18's 'transitional' symbol
        attribute in f589e1df (kern-tools a4a362d9, wrynose's SRCREV).  When
        the mirror only has an older kern-tools and the tree uses the
        attribute, symbol_why.py cannot parse the tree: re-do that parser
        change in this temporary copy (accept the attribute, keep the symbol
        as it is; symbol_why only reads .config) and say so in the notes."""
        lib = self.ktools / "Kconfiglib" / "kconfiglib.py"
        text = lib.read_text()
        if "transitional" in text or not (tree / "arch" / "Kconfig").exists() \
                or not re.search(r"^\s+transitional\s*$", (tree / "arch" / "Kconfig").read_text(), re.M):
            return
        for old, new in (
                (") = range(1, 51)", "    _T_TRANSITIONAL,\n) = range(1, 52)"),
                ('    "optional":       _T_OPTIONAL,\n',
                 '    "optional":       _T_OPTIONAL,\n    "transitional":   _T_TRANSITIONAL,\n'),
                ("            elif t0 is _T_OPTIONAL:\n",
                 "            elif t0 is _T_TRANSITIONAL:\n                pass  # accepted; symbol_why only reads .config\n\n"
                 "            elif t0 is _T_OPTIONAL:\n")):
            if text.count(old) != 1:
                raise RuntimeError(f"kern-tools' kconfiglib.py changed: cannot add 'transitional' ({old!r})")
            text = text.replace(old, new)
        lib.write_text(text)
        self.pins.notes.append("its Kconfiglib cannot parse 6.18's 'transitional' attribute: "
                               "upstream f589e1df's parser change re-done in the temporary copy")

    def recipe_vars(self, machine: str, extra_conf: str = "", tag: str = "") -> dict:
        """The recipe's variables as bitbake computes them for ``machine``."""
        build = self.root / f"build-{machine}{tag}"
        (build / "conf").mkdir(parents=True, exist_ok=True)
        (build / "conf" / "bblayers.conf").write_text(
            'BBPATH = "${TOPDIR}"\nBBFILES ?= ""\n'
            f'BBLAYERS = "{self.oecore}/meta {self.metayocto}/meta-poky {LAYER}"\n')
        (build / "conf" / "local.conf").write_text(
            'DISTRO = "poky"\nBB_NO_NETWORK = "1"\nCONNECTIVITY_CHECK_URIS = ""\n'
            'BB_DISKMON_DIRS = ""\n' + extra_conf)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(build), "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "BUILDDIR": str(build), "MACHINE": machine,
               "BB_ENV_PASSTHROUGH_ADDITIONS": "MACHINE"}
        r = subprocess.run([sys.executable, str(HERE / "kernel_vars.py"), str(self.bitbake),
                            str(self.oecore / "meta/recipes-kernel/linux" / self.series.recipe),
                            str(BBAPPEND)], cwd=build, env=env, capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"tinfoil failed for {machine}:\n{r.stdout[-2000:]}{r.stderr[-4000:]}")
        return json.loads(r.stdout)


def kernel_tree(series: Series) -> tuple[Path, str]:
    """The series' mirrored kernel tree at its head, extracted once into
    lib.cache_dir()/kernel-trees/<version>-<commit>.  Only what Kconfig and
    the config targets read (every Kconfig*, Makefile* and Kbuild*, scripts/,
    arch/*/configs and arch/*/tools, the top-level files): the GitHub
    snapshots leave out their largest blobs, none of which Kconfig reads."""
    name = next(t for t in series.trees if repo(t))
    gitdir = repo(name)
    commit = git(gitdir, "rev-parse", "HEAD").strip()
    mk = git(gitdir, "show", f"{commit}:Makefile")
    version = ".".join(re.search(rf"^{k} = (\d+)", mk, re.M).group(1)
                       for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))
    dest = lib.cache_dir() / "kernel-trees" / f"{version}-{commit[:12]}"
    if not (dest / ".complete").exists():
        tmp = dest.with_name(dest.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        top = [n for n in git(gitdir, "ls-tree", "--name-only", commit).split()
               if git(gitdir, "cat-file", "-t", f"{commit}:{n}").strip() == "blob"]
        archive(gitdir, commit, tmp / "linux", *CONFIG_PATHS, *top)
        (tmp / ".complete").write_text(f"{name} {commit}\n")
        try:
            os.rename(tmp, dest)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return dest / "linux", f"{version} ({name.replace('+', '/')} {commit[:12]})"


def src_uri_fragments(src_uri: str) -> list[str]:
    """kernel-yocto.bbclass's find_sccs(): SRC_URI's local .scc/.cfg files
    (and defconfigs), in SRC_URI order."""
    out = []
    for entry in src_uri.split():
        if not entry.startswith("file://"):
            continue
        name = entry[len("file://"):].split(";")[0]
        base, ext = os.path.splitext(os.path.basename(name))
        if ext in (".scc", ".cfg") or (base and "defconfig" in base):
            out.append(name)
    return out


def kmeta_dirs(src_uri: str) -> list[tuple[str, str, str]]:
    """SRC_URI's type=kmeta entries: [(fetcher, name, destsuffix)] (the
    kernel-cache git repository, the layer's file:// directory)."""
    out = []
    for entry in src_uri.split():
        url, *params = entry.split(";")
        p = dict(x.split("=", 1) for x in params if "=" in x)
        if p.get("type") == "kmeta":
            kind, _, rest = url.partition("://")
            name = rest if kind == "file" else rest.rstrip("/").rsplit("/", 1)[-1]
            out.append((kind, name, p.get("destsuffix") or name))
    return out


@dataclass
class Result:
    config: str
    bsp: str
    order: list[str]
    mismatches: str
    invalid: str
    merge_log: str
    timings: dict[str, float]

    @property
    def configcheck_warnings(self) -> str:
        return self.mismatches + self.invalid


def _run(cmd, cwd, env, what):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{what} failed ({r.returncode}): {' '.join(map(str, cmd))}\n"
                           f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def configure(co: Checkouts, tree: Path, v: dict, work: Path) -> Result:
    """Run the flow for one machine's variables ``v`` on ``tree`` in ``work``."""
    t: dict[str, float] = {}
    start = time.monotonic()
    s = work / "S"  # hard-linked copy: the flow writes .kernel-meta and temp files into S
    subprocess.run(["cp", "-al", str(tree), str(s)], check=True)
    t["copy tree"] = time.monotonic() - start
    workdir = work / "WORKDIR"
    workdir.mkdir()
    includes = []
    for kind, name, dest in kmeta_dirs(v["SRC_URI"]):  # find_kernel_feature_dirs()
        src = co.kmeta if kind == "git" else FILES / name
        shutil.copytree(src, workdir / dest, symlinks=True)
        top = workdir / dest
        includes.append(f"-I{top / 'kernel-meta' if (top / 'kernel-meta').is_dir() else top}")
    sccs = []
    for name in src_uri_fragments(v["SRC_URI"]):
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FILES / name, workdir / name)
        sccs.append(str(workdir / name))
    includes += [f"-I{os.path.dirname(x)}" for x in sccs]
    arch = v["ARCH"]
    env = dict(os.environ, PATH=f"{co.ktools}:{os.environ['PATH']}", ARCH=arch, LC_ALL="C",
               KMETA=v["KMETA"])
    cross = CROSS[arch] if shutil.which(CROSS[arch] + "gcc") else ""
    # kernel-yocto.bbclass passes the build host's compiler as HOSTCC and
    # the target's as CC/LD (Kconfig's cc-option tests read CC)
    env.update(HOSTCC="gcc", HOSTLD="ld", HOSTCPP="cpp", CC=f"{cross}gcc", LD=f"{cross}ld",
               OBJCOPY=f"{cross}objcopy", STRIP=f"{cross}strip", srctree=str(s))
    if cross:
        env["CROSS_COMPILE"] = cross
    step = time.monotonic()
    bsp = _run(["spp", *includes, "--find", f"-DKMACHINE={v['KMACHINE']}",
                f"-DKTYPE={v['LINUX_KERNEL_TYPE']}"], s, env, "spp --find").strip()
    if not bsp:
        raise RuntimeError(f"no BSP definition for {v['KMACHINE']}/{v['LINUX_KERNEL_TYPE']}")
    features = []
    for f in (v["KERNEL_FEATURES"] or "").split():
        if not any((Path(i[2:]) / f).exists() for i in includes):
            raise RuntimeError(f"Feature '{f}' not found (do_kernel_metadata would stop here)")
        features.append(f)
    order = [bsp, *sccs, *features]
    (s / ".kernel-meta").mkdir()  # kgit --meta
    _run(["scc", "--force", "-o", f"{s}/.kernel-meta:cfg,merge,meta", *includes, *order],
         s, env, "scc")
    configs = _run(["scc", "--configs", "-o", ".kernel-meta"], s, env, "scc --configs").split()
    t["spp/scc"] = time.monotonic() - step
    step = time.monotonic()
    b = work / "B"
    b.mkdir()
    flags = ["-n"] if (v.get("KCONFIG_MODE") or "").endswith("allnoconfig") else []
    merge = subprocess.run(["merge_config.sh", "-O", str(b), *flags, *configs], cwd=s, env=env,
                           capture_output=True, text=True)
    if merge.returncode != 0 or not (b / ".config").exists():
        raise RuntimeError(f"merge_config.sh failed:\n{merge.stdout[-3000:]}{merge.stderr[-3000:]}")
    if v.get("LINUX_VERSION_EXTENSION"):
        with open(b / ".config", "a") as f:
            f.write(f'# Global settings from linux recipe\nCONFIG_LOCALVERSION="{v["LINUX_VERSION_EXTENSION"]}"\n')
    t["merge_config.sh"] = time.monotonic() - step
    step = time.monotonic()
    _run(["make", "-s", "-C", str(s), f"O={b}", f"ARCH={arch}", "olddefconfig"], s, env,
         "olddefconfig")
    t["olddefconfig"] = time.monotonic() - step
    step = time.monotonic()
    audit = int(v.get("KCONF_AUDIT_LEVEL") or 0)
    bsp_audit = int(v.get("KCONF_BSP_AUDIT_LEVEL") or 0)
    why = [sys.executable, str(co.ktools / "symbol_why.py"), "--dotconfig", str(b / ".config")]
    mism = _run(why + ["--mismatches", "--classify" if audit == 1 else ""], s, env, "symbol_why --mismatches")
    inval = _run(why + ["--invalid", "--strict" if bsp_audit > 1 else ""], s, env, "symbol_why --invalid")
    t["configcheck"] = time.monotonic() - step
    t["total"] = time.monotonic() - start
    return Result((b / ".config").read_text(), bsp, order,
                  mism if audit else "", inval if bsp_audit else "",
                  merge.stdout + merge.stderr, t)
