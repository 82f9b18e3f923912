"""The log catalogue against the code that prints the messages.

bitbake and openembedded-core are read at the supported versions
(scarthgap yocto-5.0.19, wrynose yocto-6.0.2) from the fetched mirrors
(ARMVM_MIRRORS, default /work/.mirror; skipped with the reason when they
are absent), kas from the installed kas 5.x (else the kas mirror). A test
fails when

* a message a family declares (:class:`Src`) is no longer in its source, or
  the family's pattern no longer matches the message as printed;
* a message of a covered class has no family: every exception class of
  bitbake's fetcher and every literal raised with it, every QA check of
  insane.bbclass (with a fix), every message of sanity.bbclass, bitbake's
  layer/provider/parse/server/lock messages, oe-core's package manager and
  rootfs errors (a family, or a wrapper the structural first cause skips),
  every KasUserError class and message.
"""

from __future__ import annotations

import re

import pytest

from armvm_oe.doctor import firstcause
from armvm_oe.doctor.logcatalogue import PATTERNS, bitbake_fetch2, kas, oecore_insane
from armvm_oe.doctor.logscan import UNRECOGNISED, scan
from tests.doctor import catalogue_sources as cs

pytestmark = pytest.mark.skipif(bool(cs.missing()), reason="fetched mirrors absent: "
                                f"{', '.join(cs.missing())} (set ARMVM_MIRRORS)")
READ = ("bitbake", "oe-core", "kas")
DECLARED = [(p, s) for p in PATTERNS for s in p.sources if s.repo in READ]


def _in_source(repo: str, path: str, chunk: str, at: str = "") -> list:
    """The versions whose ``path`` (a file or a directory) holds ``chunk``
    in a string literal or its raw text (``at``: only that older release)."""
    hit = []
    for ref in ([at] if at else cs.refs(repo)):
        files = [f for f in cs.ls(repo, ref, path) if f == path or f.endswith(".py")]
        for f in files:
            text = cs.read(repo, ref, f)
            py = cs.python_of_bbclass(text) if f.endswith(".bbclass") else text
            if chunk in text or any(chunk in s for s in cs.strings(py)):
                hit.append(ref)
                break
    return hit


def _bitbake_line(text: str) -> str:
    return "\n".join("ERROR: " + ln if i == 0 else ln for i, ln in enumerate(text.split("\n")))


@pytest.mark.parametrize("pat,src", DECLARED,
                         ids=[f"{p.id}:{s.path.rsplit('/', 1)[-1]}:{i}"
                              for i, (p, s) in enumerate(DECLARED)])
def test_declared_message_is_in_its_source_and_matched(pat, src):
    if src.repo == "kas" and not cs.kas_root()[1]:
        pytest.skip("no kas 5.x installed and no kas mirror")
    chunk = cs.chunks(src.message)[0].strip()
    assert _in_source(src.repo, src.path, chunk, src.ref), \
        f"{pat.id}: {chunk!r} is no longer in {src.repo}:{src.path} {src.ref}"
    text = src.sample or cs.render(src.message)
    d = scan(_bitbake_line(text))
    assert pat.fid in [f.id for f in d.findings], (pat.id, text, [f.id for f in d.findings])


def _fetch_exception_text(cls: str, args: list) -> str:
    if cls in ("MalformedUrl", "UntrustedUrl"):        # (url, message='')
        args = list(args[1:]) + [None]
    msg = args[0] if args and args[0] else "something failed"
    msg = cs.render(msg)
    url = "https://example.com/foo.tar.gz"
    if cls in ("FetchError", "ChecksumError", "BBFetchException", "NoChecksumError"):
        return f"Fetcher failure for URL: '{url}'. {msg}"
    if cls in ("UnpackError",):
        return f"Unpack failure for URL: '{url}'. {msg}"
    if cls == "ParameterError":
        return f"URL: '{url}' has invalid parameters. {msg}"
    if cls == "MissingParameterError":
        return f"URL: '{url}' is missing the required parameter '{msg}'"
    if cls == "MalformedUrl":
        return msg if args[0] else f"The URL: '{url}' is invalid and cannot be interpreted"
    if cls == "NoMethodError":
        return f"Could not find a fetcher which supports the URL: '{url}'"
    if cls == "UntrustedUrl":
        return msg if args[0] else f"The URL: '{url}' is not trusted and cannot be used"
    if cls == "NetworkAccess":
        return ("Network access disabled through BB_NO_NETWORK (or set indirectly due to use "
                f"of BB_FETCH_PREMIRRORONLY) but access requested with command wget (for url "
                f"{url})")
    return msg


@pytest.mark.parametrize("version", list(cs.VERSIONS.values()))
def test_every_fetcher_exception_and_raise_has_a_family(version):
    init = cs.read("bitbake", version, "lib/bb/fetch2/__init__.py")
    classes = set(re.findall(r"^class (\w+)\((?:BBFetchException|FetchError|UnpackError)\)",
                             init, re.M)) | {"BBFetchException"}
    assert classes - set(bitbake_fetch2.EXCEPTIONS) == set(), "fetch2 exception without family"
    bad = []
    for f in cs.ls("bitbake", version, "lib/bb/fetch2"):
        if not f.endswith(".py"):
            continue
        for cls, args in cs.raises(cs.read("bitbake", version, f), tuple(classes)):
            if args and args[0] is None and cls not in ("MissingParameterError", "NoMethodError",
                                                         "MalformedUrl", "UntrustedUrl",
                                                         "NetworkAccess"):
                continue            # a message built at run time
            text = _fetch_exception_text(cls, args)
            first = scan("ERROR: foo-1.0-r0 do_fetch: " + text).first
            want = bitbake_fetch2.EXCEPTIONS[cls]
            if first is None or first.id == UNRECOGNISED or \
                    (cls not in ("FetchError", "BBFetchException") and first.id != want):
                bad.append((f, cls, text, first.id if first else None))
    assert bad == [], "\n" + "\n".join(map(repr, bad))


@pytest.mark.parametrize("version", list(cs.VERSIONS.values()))
def test_every_qa_check_has_a_fix(version):
    ids = set()
    for f in cs.ls("oe-core", version, "meta"):
        if f.endswith((".bbclass", ".py")):
            text = cs.read("oe-core", version, f)
            ids |= set(re.findall(r"""(?:handle_error|add_message|package_qa_add_message)\(\s*"""
                                  r"""(?:\w+,\s*)?["']([a-z0-9-]+)["']""", text))
    text = cs.read("oe-core", version, "meta/classes-global/insane.bbclass")
    for var in ("WARN_QA", "ERROR_QA", "CHECKLAYER_REQUIRED_TESTS"):
        m = re.search(var + r'\s*\??=\s*"([^"]*)"', text)
        ids |= {x for x in (m.group(1).replace("\\", " ").split() if m else ())
                if not x.startswith("$")}
    assert len(ids) > 50, "the QA checks were not found: insane.bbclass changed shape"
    assert sorted(ids - set(oecore_insane.QA_FIXES)) == []
    for qa in sorted(ids):
        f = scan(f"ERROR: foo-1.0-r0 do_package_qa: QA Issue: foo: something [{qa}]").first
        assert f.id == "log.qa-issue" and "usually: " in f.fix, (qa, f.fix)


def test_every_sanity_message_has_a_family():
    msgs = cs.sanity_messages()
    assert len(msgs) > 60, "sanity.bbclass's messages were not found"
    bad = []
    for m, versions in sorted(msgs.items()):
        if m.startswith((" ", "\t")) or "sanity checker detected" in m:
            continue            # continuation lines of one message, the list's header
        text = cs.render(m).strip().split("\n")[0]
        first = scan("ERROR: " + text).first
        if first is None or first.id == UNRECOGNISED:
            bad.append((versions, text))
    assert bad == []


# bitbake's messages about layers, providers, parsing, the server and its
# lock, hash equivalence, the disk monitor: each has a family.
_BB_FILES = ("lib/bb/cooker.py", "lib/bb/cookerdata.py", "lib/bb/event.py", "lib/bb/main.py",
             "lib/bb/data_smart.py", "lib/bb/parse/parse_py/ConfHandler.py",
             "lib/bb/parse/parse_py/BBHandler.py", "lib/bb/monitordisk.py",
             "lib/bb/taskdata.py", "lib/bb/siggen.py")
_BB_CALLS = ("logger.error", "logger.critical", "bb.fatal", "bb.error", "parselog.error",
             "collectlog.error", "ParseError", "ExpansionError", "BBMainException")
_BB_COVERED = re.compile(r"[Ll]ayer|LAYER|BBFILE_COLLECTIONS|PROVIDES|available for|"
                         r"bitbake server|bitbake\.lock|Could not %s file|Could not inherit|"
                         r"expanding|disk space|Hash Equivalence|hash equivalency|BBLAYERS|"
                         r"override syntax|not deterministic|/dev/shm|unparsed line")


def test_bitbake_layer_provider_server_messages_have_families():
    bad, seen = [], 0
    for version in cs.VERSIONS.values():
        for f in _BB_FILES:
            for _, m in cs.calls(cs.read("bitbake", version, f), _BB_CALLS):
                if not _BB_COVERED.search(m):
                    continue
                seen += 1
                text = cs.render(m).replace("Could not foo file", "Could not include required "
                                            "file").split("\n")[0]
                text = re.sub(r"^Nothing fooPROVIDES", "Nothing PROVIDES", text)
                first = scan("ERROR: " + text).first
                if first is None or first.id == UNRECOGNISED:
                    bad.append((version, f, text))
    assert seen > 15
    assert bad == [], "\n" + "\n".join(map(repr, bad))


_PM_FILES = ("meta/lib/oe/package_manager/__init__.py", "meta/lib/oe/rootfs.py",
             "meta/lib/oe/package_manager/rpm/__init__.py",
             "meta/lib/oe/package_manager/ipk/__init__.py",
             "meta/lib/oe/package_manager/deb/__init__.py")


@pytest.mark.parametrize("version", list(cs.VERSIONS.values()))
def test_package_manager_errors_are_families_or_known_wrappers(version):
    """oe-core's rootfs errors either name a cause (a family) or only wrap
    the tool's output (a wrapper the structural first cause reads past)."""
    bad, seen = [], 0
    for f in _PM_FILES:
        for call, m in cs.calls(cs.read("oe-core", version, f), ("bb.fatal", "bb.error",
                                                                   "[fatal]", "[attempt_only]")):
            text = cs.render(m).split("\n")[0].strip()
            if len(text) < 12:
                continue
            seen += 1
            first = scan("ERROR: img-1.0-r0 do_rootfs: " + text).first
            wrapper = firstcause.WRAPPER.search("ERROR: img-1.0-r0 do_rootfs: " + text)
            if not wrapper and (first is None or first.id == UNRECOGNISED):
                bad.append((f, text))
    assert seen > 10
    assert bad == [], "\n" + "\n".join(map(repr, bad))


def test_every_kas_user_error_has_a_family():
    label, ref = cs.kas_root()
    if not ref:
        pytest.skip("no kas 5.x installed and no kas mirror")
    classes, bad = set(), []
    for f in cs.ls("kas", ref, "kas"):
        if f.endswith(".py"):
            classes |= set(re.findall(r"^class (\w+)\((?:KasUserError|\w+Error)[,)]",
                                      cs.read("kas", ref, f), re.M))
    classes.discard("KasUserError")
    assert classes and sorted(classes - set(kas.EXCEPTIONS)) == [], label
    for f in cs.ls("kas", ref, "kas"):
        if not f.endswith(".py"):
            continue
        for cls, args in cs.raises(cs.read("kas", ref, f), tuple(classes)):
            if kas.EXCEPTIONS.get(cls) is None or not args or not args[0]:
                continue
            text = cs.render(args[0])
            if cls == "ArgsCombinationError":          # the class's own prefix
                text = "Invalid combination of arguments: " + text
            if cls == "LoadConfigException":
                text += ": /w/kas/x.yml"
            elif cls in ("MissingModuleError",):
                text = f'Module "{text}" is required for: foo'
            elif cls == "TaskExecError":
                continue
            first = scan("2026-01-01 10:00:00 - ERROR    - " + text.split("\n")[0]).first
            if first is None or first.id == UNRECOGNISED:
                bad.append((label, f, cls, text))
    assert bad == [], "\n" + "\n".join(map(repr, bad))
