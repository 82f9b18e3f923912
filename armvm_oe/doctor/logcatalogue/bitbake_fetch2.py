"""bitbake's fetcher, lib/bb/fetch2: its exception classes (FetchError,
ChecksumError, NoChecksumError, UnpackError, MissingParameterError,
ParameterError, MalformedUrl, NoMethodError, NetworkAccess, UntrustedUrl)
and the messages raised with them, as bitbake prints them
(``ERROR: <recipe> do_fetch: <str(exception)>``)."""

from __future__ import annotations

import re
from typing import Optional

from armvm_oe.doctor.logcatalogue._base import P, S, attach, scheme_advice


def _f_param(g: dict) -> dict:
    url = g.get("url") or g.get("url2") or g.get("url3") or g.get("url4") or ""
    what = f"'{url}'" if url else "URL"
    if g.get("param"):
        return {"what": what, "why": f"it lacks the parameter '{g['param']}'",
                "how": f"add ;{g['param']}=... to it"}
    msg = g.get("msg") or g.get("msg2") or ""
    if "branch parameter" in (msg or g.get("url2") or "") or not (msg or url):
        return {"what": what, "why": "a git URL without ;branch= (required since bitbake "
                "2.0/kirkstone)", "how": "add ;branch=<the upstream branch> (or nobranch=1 "
                "for a commit on no branch)"}
    if g.get("url4"):
        return {"what": what, "why": "no fetcher handles its scheme",
                "how": "use a supported scheme (git://...;protocol=https, https://, file://)"}
    return {"what": what, "why": msg.strip() or "it cannot be parsed",
            "how": "correct the parameter the message names"}


def _f_fetch(g: dict, ctx) -> dict:
    out = scheme_advice(g.get("url") or "")
    reason = ctx.nearby_error() if ctx else None
    out["reason"] = f"; the fetcher said: {reason}" if reason else ""
    return out


def f_ref(g: dict, ctx) -> dict:
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


F = "lib/bb/fetch2/__init__.py"

PATTERNS = (
    P("log.untrusted-url", "a URL's host is not in BB_ALLOWED_NETWORKS", "error", 3,
      r"The URL: '(?P<url>[^']+)' is not trusted and cannot be used",
      "bitbake refused to fetch {url}: its host is not listed in BB_ALLOWED_NETWORKS (a "
      "distro or CI setting that allows only internal mirrors); this is not a network or "
      "proxy problem",
      "Add the host to BB_ALLOWED_NETWORKS (or a PREMIRRORS entry that points at an allowed "
      "host), or pre-fill DL_DIR",
      "ERROR: foo-1.0-r0 do_fetch: The URL: 'https://github.com/x/foo.git' is not trusted and "
      "cannot be used", ("is not trusted and cannot be used",), phase="build"),
    P("log.untrusted-url.command", "a fetch command was refused (BB_ALLOWED_NETWORKS)",
      "error", 3,
      r"^ERROR: \S+ do_fetch: (?P<cmd>(?:export [^;]+; )*(?:LANG=C )?(?:/usr/bin/env )?"
      r"(?:git|wget|curl)(?: -c \S+)* (?:ls-remote|clone|fetch|-t \d+|-O|--)\S*(?: .*)?)$",
      "bitbake refused to run this fetch command before it ran (it prints only the "
      "command): the URL's host is not in BB_ALLOWED_NETWORKS; this is not a network or "
      "proxy problem", "Add the host to BB_ALLOWED_NETWORKS (or a PREMIRRORS entry on an "
      "allowed host), or pre-fill DL_DIR",
      "ERROR: foo-1.0-r0 do_fetch: git -c core.fsyncobjectfiles=0 ls-remote "
      "https://github.com/x/foo.git", ("do_fetch: ",), family="log.untrusted-url",
      phase="build"),
    P("log.checksum-missing", "a recipe has no SRC_URI checksum", "error", 3,
      r"Missing SRC_URI checksum|No checksum specified for '?(?P<url>[^',]+)",
      "the recipe fetches a file without SRC_URI[sha256sum] and BB_STRICT_CHECKSUM is set",
      "Add the SRC_URI[sha256sum] = \"...\" line bitbake prints below the error to the recipe",
      "ERROR: foo-1.0-r0 do_fetch: Missing SRC_URI checksum, please add those to the recipe:",
      ("Missing SRC_URI checksum", "No checksum specified"), phase="build"),
    P("log.fetch-parameter", "a SRC_URI is malformed or lacks a parameter", "error", 3,
      r"URL: '(?P<url>[^']+)' is missing the required parameter '(?P<param>[^']+)'|"
      r"URL: '(?P<url2>[^']+)' has invalid parameters\. (?P<msg>.+)|"
      r"The URL: '(?P<url3>[^']+)' is invalid(?: and cannot be interpreted|: (?P<msg2>.+))|"
      r"Could not find a fetcher which supports the URL: '(?P<url4>[^']+)'|"
      r"The url does not set any branch parameter or set nobranch=1",
      "bitbake cannot use the SRC_URI {what}: {why}",
      "Fix the SRC_URI in the recipe: {how}",
      "ERROR: foo-1.0-r0 do_fetch: URL: 'git://github.com/x/foo.git;protocol=https' has "
      "invalid parameters. The url does not set any branch parameter or set nobranch=1.",
      ("is missing the required parameter", "has invalid parameters", "is invalid",
       "Could not find a fetcher", "does not set any branch parameter"), phase="parse",
      fields=lambda g, c: _f_param(g)),
    P("log.unpack-failure", "bitbake could not unpack a source", "error", 3,
      r"Unpack failure for URL: '(?P<url>[^']+)'\. (?P<msg>.+)",
      "unpacking {url} failed: {msg}",
      "{fix}", "ERROR: foo-1.0-r0 do_unpack: Unpack failure for URL: 'https://x.org/foo.tgz'. "
      "Unpack command PATH=... tar xz --no-same-owner -f foo.tgz failed with return value 2",
      ("Unpack failure for URL",), phase="build",
      fields=lambda g, c: {"fix": "Delete the file from DL_DIR and fetch again (a truncated "
                           "or HTML download), check the file type"
                           if "failed with return value" in (g.get("msg") or "") else
                           "Fix what the message names (commit or stash local changes in the "
                           "checkout, or the SRC_URI's subdir/striplevel)"}),
    P("log.remote-ref-missing", "a branch, tag or revision is missing upstream", "error", 3,
      r"Unable to find revision (?P<rev>\S+) in branch (?P<branch>\S*) even from upstream|"
      r"fatal: [Cc]ouldn't find remote ref (?P<ref>\S+)",
      "the remote has no {what}: {hint}",
      "Fix the branch/tag/SRCREV in the configuration or recipe (SRC_URI branch=..., SRCREV), "
      "or use the layer revision that matches the upstream",
      "ERROR: glog-0.3.5-r0 do_fetch: Fetcher failure: Unable to find revision a6a166db06 in "
      "branch master even from upstream",
      ("Unable to find revision", "ouldn't find remote ref"),
      fields=f_ref, phase="build"),
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
    P("log.checksum-mismatch.stale", "a download went stale on NFS", "error", 3,
      r"Stale Error (?:Observed|Detected)",
      "a file in DL_DIR became a stale NFS handle (ESTALE) while it was fetched, so bitbake "
      "could not verify it", "Retry the fetch; keep DL_DIR on a local disk or a reliable NFS "
      "mount", "ERROR: foo-1.0-r0 do_fetch: Stale Error Observed https://x.org/foo.tgz.",
      ("Stale Error",), family="log.checksum-mismatch", phase="build"),
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


SOURCES = {
    "log.untrusted-url": (S("bitbake", F, "The URL: '%s' is not trusted and cannot be used"),),
    "log.checksum-missing": (
        S("bitbake", F, "Missing SRC_URI checksum, please add those to the recipe: "),),
    "log.fetch-parameter": (
        S("bitbake", F, "URL: '%s' is missing the required parameter '%s'"),
        S("bitbake", F, "URL: '%s' has invalid parameters. %s"),
        S("bitbake", F, "The URL: '%s' is invalid and cannot be interpreted"),
        S("bitbake", F, "Could not find a fetcher which supports the URL: '%s'"),
        S("bitbake", "lib/bb/fetch2/git.py",
          "The url does not set any branch parameter or set nobranch=1.")),
    "log.unpack-failure": (S("bitbake", F, "Unpack failure for URL: '%s'. %s"),),
    "log.checksum-mismatch": (S("bitbake", F, "Checksum mismatch!"),
                              S("bitbake", F, "Checksum failure fetching %s"),
                              S("bitbake", F, "Checksum failure encountered with download of %s "
                                              "- will attempt other sources if available")),
    "log.fetcher-failure": (S("bitbake", F, "Fetcher failure for URL: '%s'. %s"),
                            S("bitbake", F, "Fetcher failure: %s"),
                            S("bitbake", F, "Unable to fetch URL from any source.")),
    "log.no-network": (S("bitbake", F, "Network access disabled through BB_NO_NETWORK (or set "
                                       "indirectly due to use of BB_FETCH_PREMIRRORONLY) but "
                                       "access requested with command %s (for url %s)"),),
    "log.remote-ref-missing": (S("bitbake", "lib/bb/fetch2/git.py",
                                 "Unable to find revision %s in branch %s even from upstream",
                                 "Unable to find revision a6a166db06 in branch master even "
                                 "from upstream"),),
}

# which family each exception class of lib/bb/fetch2/__init__.py is
EXCEPTIONS = {"BBFetchException": "log.fetcher-failure", "FetchError": "log.fetcher-failure",
              "ChecksumError": "log.checksum-mismatch", "NoChecksumError": "log.checksum-missing",
              "UnpackError": "log.unpack-failure", "LocalModificationsError": "log.unpack-failure",
              "RebaseError": "log.unpack-failure", "NoMethodError": "log.fetch-parameter",
              "MissingParameterError": "log.fetch-parameter",
              "ParameterError": "log.fetch-parameter", "MalformedUrl": "log.fetch-parameter",
              "UntrustedUrl": "log.untrusted-url", "NetworkAccess": "log.no-network"}

PATTERNS = attach(PATTERNS, SOURCES)
