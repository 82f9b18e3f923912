"""TODO"""

from __future__ import annotations

import re
from typing import Optional

from armvm_oe.doctor.logcatalogue._base import P, S, scheme_advice


def _f_fetch(g: dict, ctx) -> dict:
    out = scheme_advice(g.get("url") or "")
    reason = ctx.nearby_error() if ctx else None
    out["reason"] = f"; the fetcher said: {reason}" if reason else ""
    return out


def _f_ref(g: dict, ctx) -> dict:
    br = g.get("branch")
    ref = g.get("rev") or g.get("ref") or g.get("kref") or g.get("ktag") or "the ref"
    if br is not None and br.strip() == "":
        hint = ("the recipe says nobranch=1 and the commit is gone from every branch "
                "(upstream rewrote history)")
    elif br in ("master", "main"):
        other = "main" if br == "master" else "master"
        hint = (f"the branch '{br}' no longer contains it: upstream renamed '{br}' to "
                f"'{other}' or rewrote history; set branch={other} in SRC_URI if so")
    elif br:
        hint = f"the branch '{br}' no longer contains it (renamed, rebased or deleted)"
    else:
        hint = "a branch renamed (master -> main), a typo, or a release branch that " \
               "does not exist yet"
    return {"what": ref if not br else f"revision {ref} in branch '{br}'", "hint": hint}


PATTERNS = (
    P("log.remote-ref-missing", "a branch, tag or revision is missing upstream", "error", 3,
      r"Unable to find revision (?P<rev>\S+) in branch (?P<branch>\S*) even from upstream|"
      r"fatal: [Cc]ouldn't find remote ref (?P<ref>\S+)|Branch \"(?P<kref>[^\"]+)\" cannot "
      r"be found in repository|Tag \"(?P<ktag>[^\"]+)\" cannot be found",
      "the remote has no {what}: {hint}",
      "Fix the branch/tag/SRCREV in the configuration or recipe (SRC_URI branch=..., SRCREV), "
      "or use the layer revision that matches the upstream",
      "ERROR: glog-0.3.5-r0 do_fetch: Fetcher failure: Unable to find revision a6a166db06 in "
      "branch master even from upstream",
      ("Unable to find revision", "ouldn't find remote ref", "cannot be found in"),
      fields=_f_ref, phase="build"),
    P("log.checksum-mismatch", "a download's checksum does not match", "error", 3,
      r"Fetcher failure for URL: '(?P<url>[^']+)'\. Checksum mismatch!|Checksum mismatch!|"
      r"Checksum failure (?:fetching|encountered with download of) (?P<url2>\S+)|"
      r"ChecksumError\(|Checksum mismatch for local file (?P<file>\S+)|"
      r"was expected to have checksum",
      "the downloaded {what} differs from the recipe's SRC_URI checksum: upstream "
      "re-released the file, a proxy or captive portal returned another page, or a partial "
      "download is in DL_DIR",
      "Delete the file from DL_DIR and fetch again (bitbake -c cleanall <recipe> && bitbake "
      "<recipe> -c fetch); if upstream changed it on purpose, update SRC_URI[sha256sum]",
      "ERROR: foo-1.0-r0 do_fetch: Fetcher failure for URL: 'https://example.org/foo-1.0.tar"
      ".gz'. Checksum mismatch!", ("Checksum mismatch", "Checksum failure", "ChecksumError",
                                    "expected to have checksum"),
      defaults={"what": "file"}, phase="build",
      fields=lambda g, c: {"what": g.get("url") or g.get("url2") or g.get("file") or
                           "file"}),
    P("log.fetcher-failure", "bitbake could not fetch a source", "error", 2,
      r"Fetcher failure for URL: '(?P<url>[^']+)'|Fetcher failure: (?P<detail>.+)|"
      r"Unable to fetch URL from any source|Bitbake Fetcher Error: (?P<detail2>.+)",
      "bitbake's fetcher failed for {url} over {transport}{reason}",
      "{net_fix}", "ERROR: linux-yocto-6.6.111+git-r0 do_fetch: Fetcher failure for URL: "
      "'git://git.yoctoproject.org/linux-yocto.git;name=machine;branch=v6.6/standard/base'. "
      "Unable to fetch URL from any source.",
      ("Fetcher failure", "Unable to fetch URL", "Fetcher Error"),
      defaults={"url": "a source"}, fields=_f_fetch, phase="build"),
    P("log.no-network", "the build was not allowed to use the network", "error", 3,
      r"Network access disabled through BB_NO_NETWORK",
      "a task needed the network but BB_NO_NETWORK (or BB_FETCH_PREMIRRORONLY) forbids it",
      "Pre-fill DL_DIR (bitbake --runall=fetch with network), or allow network for the build",
      "Network access disabled through BB_NO_NETWORK (or set indirectly due to use of "
      "BB_FETCH_PREMIRRORONLY) but access requested with command git ls-remote",
      ("BB_NO_NETWORK",), phase="build"),
)
