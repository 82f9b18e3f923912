"""The real Yocto repositories for the tests that run real bitbake (marker
``poky``): the split repositories bitbake, openembedded-core and meta-yocto
at the commits kas/ pins, from local bare mirrors. Opt-in, never fetched by
the tests: set ``ARMVM_MIRRORS`` to a directory laid out as
``<owner>+<name>/repo`` (bare git repositories):

    openembedded+bitbake/repo  openembedded+openembedded-core/repo
    yoctoproject+meta-yocto/repo

(``ARMVM_POKY_DIR``, a poky checkout, still serves the layer tests that only
need a bitbake and the core layers; the kas configurations pin the split
repositories, so the build tests need the mirrors.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# kas repo id -> mirror directory (<owner>+<name>) and its upstream URL
SPLIT = {
    "bitbake": ("openembedded+bitbake", "https://git.openembedded.org/bitbake"),
    "openembedded-core": ("openembedded+openembedded-core",
                          "https://git.openembedded.org/openembedded-core"),
    "meta-yocto": ("yoctoproject+meta-yocto", "https://git.yoctoproject.org/meta-yocto"),
}
RELEASES = {"scarthgap": "kas/armvm-aarch64.yml",
            "wrynose": "kas/armvm-aarch64.yml:kas/wrynose.yml"}
HOW = ("set ARMVM_MIRRORS to a directory holding the bare repositories "
       + ", ".join(f"{d}/repo" for d, _u in SPLIT.values())
       + " (e.g. /work/.mirror; git clone --mirror of "
       + ", ".join(u for _d, u in SPLIT.values()) + ")")


def mirrors() -> dict[str, Path]:
    """repo id -> bare mirror, or skip (an opt-in input: set explicitly)."""
    value = os.environ.get("ARMVM_MIRRORS")
    if not value:
        pytest.skip(f"ARMVM_MIRRORS is unset: these tests run real bitbake on the pinned "
                    f"Yocto repositories; {HOW}")
    out = {rid: Path(value) / d / "repo" for rid, (d, _u) in SPLIT.items()}
    missing = [str(p) for p in out.values() if not (p / "HEAD").exists()]
    if missing:
        pytest.skip(f"ARMVM_MIRRORS={value} lacks {', '.join(missing)}: {HOW}")
    return out


def pins(release: str) -> dict[str, str]:
    """repo id -> commit kas/ pins for ``release`` (locks applied)."""
    from armvm_oe.kasconfig import load_config
    chain = ":".join(str(ROOT / f) for f in RELEASES[release].split(":"))
    proj = load_config(chain, work_dir=Path("/nonexistent"))
    return {r.id: r.commit for r in proj.remote_repos}


def check_pins(release: str, mirror: dict[str, Path]) -> dict[str, str]:
    """The pins, each present in its mirror (else the test fails: the mirror
    is older than kas/)."""
    out = pins(release)
    for rid, commit in out.items():
        r = subprocess.run(["git", "--git-dir", str(mirror[rid]), "cat-file", "-e",
                            f"{commit}^{{commit}}"], capture_output=True)
        if r.returncode != 0:
            pytest.fail(f"{mirror[rid]} does not have {rid}'s pinned commit {commit} "
                        f"({release}): update the mirror")
    return out


@dataclass
class YoctoTree:
    """A bitbake + core layers tree: where bitbake/bin is, the layers."""
    bitbake: Path            # holds bin/bitbake and lib/
    core: Path               # openembedded-core or poky (meta/, scripts/)
    layers: tuple            # meta, meta-poky (the BBLAYERS besides meta-armvm)
    release: str

    @property
    def path(self) -> str:
        return f"{self.core}/scripts:{self.bitbake}/bin"


def tree(release: str = "scarthgap") -> YoctoTree:
    """The split repositories exported at their pins into a cache directory
    (files only, world-readable: bitbake runs as another user), or a poky
    checkout from ARMVM_POKY_DIR for scarthgap; skips when neither is set."""
    poky = os.environ.get("ARMVM_POKY_DIR")
    if poky and release == "scarthgap" and not os.environ.get("ARMVM_MIRRORS"):
        p = Path(poky)
        if not (p / "bitbake" / "bin" / "bitbake").exists() or not (p / "meta").is_dir():
            pytest.fail(f"ARMVM_POKY_DIR={poky} is not a poky checkout (no bitbake/bin/bitbake)")
        return YoctoTree(p / "bitbake", p, (p / "meta", p / "meta-poky"), release)
    mirror = mirrors()
    commits = check_pins(release, mirror)
    key = "-".join(commits[r][:10] for r in SPLIT)
    base = Path(os.environ.get("ARMVM_YOCTO_TREES", "/var/tmp/armvm-oe-yocto")) / \
        f"{release}-{key}"
    if not (base / ".complete").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        for rid, commit in commits.items():
            dest = base / rid
            dest.mkdir()
            archive = subprocess.Popen(["git", "--git-dir", str(mirror[rid]), "archive",
                                        commit], stdout=subprocess.PIPE)
            subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
            assert archive.wait() == 0, f"git archive {rid} {commit}"
        for d in [base.parent, base, *base.rglob("*")]:
            if d.is_dir() and not d.is_symlink():
                d.chmod(0o755)
        (base / ".complete").write_text("\n".join(f"{k} {v}" for k, v in commits.items()))
    return YoctoTree(base / "bitbake", base / "openembedded-core",
                     (base / "openembedded-core" / "meta", base / "meta-yocto" / "meta-poky"),
                     release)
