"""Yocto point releases of a pinned repository: which ``yocto-<series>.N`` tag
a pin is at, the newest of its series, and how many point releases lie
between. Pure functions over a ``{tag: commit}`` map, plus the three places
such a map comes from: the remote (``git ls-remote --tags``, bounded), a
checkout's own tags, and the table armvm-oe ships
(``armvm_oe/data/yocto-point-releases.json``).

Yocto tags every release in every repository it publishes (poky, bitbake,
openembedded-core, meta-yocto) as ``yocto-<major>.<minor>`` (the .0 release)
and ``yocto-<major>.<minor>.<N>``; milestones (``yocto-6.0_M1``) are not
releases."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

RELEASE_TAG = re.compile(r"^yocto-(\d+)\.(\d+)(?:\.(\d+))?$")

# release branch -> series, for a pin that is not at a release tag (bitbake
# names its branches by its own version; bitbake 2.8 = Yocto 5.0, 2.18 = 6.0)
BRANCH_SERIES = {
    "kirkstone": "4.0", "2.0": "4.0", "scarthgap": "5.0", "2.8": "5.0",
    "styhead": "5.1", "2.10": "5.1", "walnascar": "5.2", "2.12": "5.2",
    "whinlatter": "5.3", "2.16": "5.3", "wrynose": "6.0", "2.18": "6.0",
}

# poky was split: what a poky pin of a series moves to (repo, branch, layers)
SPLIT_REPOS = {
    "5.0": (("bitbake", "https://git.openembedded.org/bitbake", "2.8", ()),
            ("openembedded-core", "https://git.openembedded.org/openembedded-core",
             "scarthgap", ("meta",)),
            ("meta-yocto", "https://git.yoctoproject.org/meta-yocto", "scarthgap",
             ("meta-poky", "meta-yocto-bsp"))),
    "6.0": (("bitbake", "https://git.openembedded.org/bitbake", "2.18", ()),
            ("openembedded-core", "https://git.openembedded.org/openembedded-core",
             "wrynose", ("meta",)),
            ("meta-yocto", "https://git.yoctoproject.org/meta-yocto", "wrynose",
             ("meta-poky", "meta-yocto-bsp"))),
}

KNOWN = Path(__file__).resolve().parents[1] / "data" / "yocto-point-releases.json"
LS_REMOTE_BYTES = 4 << 20      # a tag listing larger than this is not a Yocto repo's


def parse_tag(tag: str) -> Optional[tuple[str, int]]:
    """'yocto-5.0.19' -> ('5.0', 19); 'yocto-6.0' -> ('6.0', 0); else None."""
    m = RELEASE_TAG.match(tag)
    if not m:
        return None
    return f"{m.group(1)}.{m.group(2)}", int(m.group(3) or 0)


def releases(tags: dict[str, str], series: str) -> list[tuple[int, str, str]]:
    """(N, tag, commit) of ``series``'s release tags, oldest first."""
    out = []
    for tag, commit in tags.items():
        p = parse_tag(tag)
        if p and p[0] == series:
            out.append((p[1], tag, commit))
    return sorted(out)


def tags_at(commit: str, tags: dict[str, str]) -> list[tuple[str, int, str]]:
    """(series, N, tag) of every release tag at ``commit``, newest first."""
    found = [(*parse_tag(t), t) for t, c in tags.items() if c == commit and parse_tag(t)]
    return sorted(found, key=lambda x: (tuple(map(int, x[0].split("."))), x[1]), reverse=True)


def repo_name(url: str | None) -> str:
    """Last path component of a URL without '.git' (how the table is keyed)."""
    name = (url or "").rstrip("/").rsplit("/", 1)[-1]
    return name[:-4] if name.endswith(".git") else name


def is_poky(url: str | None, layers=()) -> bool:
    return repo_name(url) == "poky" or {"meta", "meta-poky"} <= set(layers or ())


@dataclass
class PinStatus:
    id: str
    commit: str
    series: Optional[str]
    pinned_tag: Optional[str]       # the newest release tag at the pin
    newest_tag: Optional[str]       # newest release tag of the series
    newest_commit: Optional[str]
    behind: Optional[int]           # point releases after the pinned one (None: unknown)
    source: str                     # remote / checkout / known
    poky: bool = False
    exact: bool = True              # the pin is the tagged commit (else: a commit after it)

    def as_dict(self) -> dict:
        return asdict(self)


def status(rid: str, commit: str, branch: str | None, tags: dict[str, str], source: str,
           poky: bool = False, base_tag: str | None = None) -> PinStatus:
    """Where ``commit`` stands in its series. The series comes from a release
    tag at the pin, else from ``base_tag`` (the nearest release tag below the
    pin, e.g. from ``git describe``), else from the branch name."""
    at = tags_at(commit, tags)
    pinned = at[0][2] if at else base_tag
    parsed = parse_tag(pinned) if pinned else None
    b = (branch or "")[len("refs/heads/"):] if (branch or "").startswith("refs/heads/") \
        else branch
    series = parsed[0] if parsed else BRANCH_SERIES.get(b or "")
    rel = releases(tags, series) if series else []
    newest = rel[-1] if rel else None
    behind = None
    if parsed and rel:
        behind = len({n for n, _t, _c in rel if n > parsed[1]})
    return PinStatus(rid, commit, series, pinned, newest[1] if newest else None,
                     newest[2] if newest else None, behind, source, poky, bool(at))


# --------------------------------------------------------------------------
# where the tags come from

class TagsUnavailable(Exception):
    """The remote did not list its tags (the reason is the message)."""


def ls_remote_tags(url: str, timeout: float, env: dict | None = None) -> dict[str, str]:
    """``{tag: commit}`` of the remote's release tags (annotated tags peeled),
    one bounded ``git ls-remote --tags``."""
    e = dict(env if env is not None else os.environ)
    e.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_HTTP_LOW_SPEED_LIMIT="1",
             GIT_HTTP_LOW_SPEED_TIME=str(max(1, int(timeout))),
             GIT_SSH_COMMAND=f"ssh -o ConnectTimeout={max(1, int(timeout))} -o BatchMode=yes")
    try:
        p = subprocess.run(["git", "ls-remote", "--tags", url, "refs/tags/yocto-*"],
                           capture_output=True, env=e, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TagsUnavailable(f"no answer from {url} within {timeout:g} s") from None
    except OSError as exc:
        raise TagsUnavailable(str(exc)) from None
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.decode(errors="replace").splitlines() if ln.strip()]
        raise TagsUnavailable(lines[0] if lines else f"git ls-remote exited {p.returncode}")
    if len(p.stdout) > LS_REMOTE_BYTES:
        raise TagsUnavailable(f"{url} listed more than {LS_REMOTE_BYTES} bytes of tags")
    return parse_ls_remote(p.stdout.decode(errors="replace"))


def parse_ls_remote(text: str) -> dict[str, str]:
    """``<sha>\\trefs/tags/<t>[^{}]`` lines -> {tag: commit}; a peeled ``^{}``
    line (the commit of an annotated tag) wins over the tag object's id."""
    plain, peeled = {}, {}
    for line in text.splitlines():
        sha, _, ref = line.partition("\t")
        if not ref.startswith("refs/tags/") or not re.fullmatch(r"[0-9a-f]{40}", sha):
            continue
        name = ref[len("refs/tags/"):]
        if name.endswith("^{}"):
            peeled[name[:-3]] = sha
        else:
            plain[name] = sha
    return {t: c for t, c in {**plain, **peeled}.items() if parse_tag(t)}


def local_tags(path: Path, timeout: float = 10) -> dict[str, str]:
    """The release tags a checkout (or bare repository) holds."""
    try:
        p = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(path), "for-each-ref",
                            "--format=%(refname:short) %(objectname) %(*objectname)",
                            "refs/tags/yocto-*"], capture_output=True, text=True,
                           timeout=timeout, env=dict(os.environ, LC_ALL="C"))
    except (OSError, subprocess.TimeoutExpired):
        return {}
    out = {}
    for line in p.stdout.splitlines() if p.returncode == 0 else ():
        parts = line.split()
        if len(parts) >= 2 and parse_tag(parts[0]):
            out[parts[0]] = parts[2] if len(parts) > 2 else parts[1]
    return out


def describe(path: Path, commit: str, series: str, timeout: float = 10) -> Optional[str]:
    """The nearest release tag of ``series`` below ``commit`` in a checkout
    that has the history (None in a shallow clone)."""
    try:
        p = subprocess.run(["git", "-c", "safe.directory=*", "-C", str(path), "describe",
                            "--tags", "--abbrev=0", "--match", f"yocto-{series}*", commit],
                           capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    tag = p.stdout.strip()
    return tag if p.returncode == 0 and parse_tag(tag) else None


def known_tags(url: str | None) -> dict[str, str]:
    """The release tags armvm-oe ships for the repository ``url`` names."""
    try:
        data = json.loads(KNOWN.read_text())
    except (OSError, ValueError):
        return {}
    return dict(data.get("repos", {}).get(repo_name(url), {}))


def split_layout(series: str | None) -> str:
    """One sentence naming the split repositories for a poky pin of ``series``."""
    repos = SPLIT_REPOS.get(series or "") or SPLIT_REPOS["5.0"]
    parts = []
    for rid, url, branch, layers in repos:
        what = f"layers {', '.join(layers)}" if layers else "no layer, oe-core finds it at " \
            "../bitbake"
        parts.append(f"{rid} ({url}, branch {branch}; {what})")
    return "; ".join(parts)
