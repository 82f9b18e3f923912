"""Families on the message forms their sources print, as users paste them:
without bitbake's ``ERROR:`` prefix, on a task log's ``| `` lines, wrapped
over two lines by a terminal or a mailer, in an older release's wording,
under a wrapper line (bitbake's "Build of do_x failed", rpm's "Failed
dependencies:", sstate.bbclass's advice). Each case is the printf format of
the tool or class that prints it (named in the test), filled with sample
values; the catalogue's own declared messages are checked against the
mirrors in test_catalogue_sources.py."""

from __future__ import annotations

import pytest

from armvm_oe.doctor import firstcause
from armvm_oe.doctor.logcatalogue.oecore_insane import QA_UNLABELLED
from armvm_oe.doctor.logscan import UNRECOGNISED, scan


def _first(text: str):
    d = scan(text)
    assert d.first is not None, text
    return d.first


# curl lib/cf-socket.c (7.83+ with "after %ld ms"), older curl, curl lib/hostip.c,
# wget src/connect.c and src/host.c: the connect failure, bare or relayed
@pytest.mark.parametrize("line", [
    "Failed to connect to github.com port 443 after 129550 ms: Connection timed out",
    "Failed to connect to github.com port 443: Connection timed out",
    "curl: (7) Failed to connect to downloads.yoctoproject.org port 80: Connection refused",
    "curl: (6) Could not resolve host: git.example.org",
    "Connecting to ftp.gnu.org (ftp.gnu.org)|209.51.188.20|:443... failed: Network is "
    "unreachable.",
    "wget: unable to resolve host address 'ftp.gnu.org'",
    "| Failed to connect to github.com port 443: Connection timed out",
])
def test_connect_failures_are_named_unprefixed(line):
    f = _first(line)
    assert f.id == "log.host-unreachable" and f.severity == "error", (f.id, line)
    assert f.line == line.lstrip("| ")


def test_git_relaying_curl_stays_a_git_finding():
    f = _first("fatal: unable to access 'https://github.com/x/y.git/': Failed to connect to "
               "github.com port 443 after 21 ms: Connection refused")
    assert f.id == "log.git-unreachable"


# glibc elf/dl-version.c ("%s: %s: version `%s' not found (required by %s)" as rtld
# prints it) and elf/dl-load.c via rtld ("error while loading shared libraries")
@pytest.mark.parametrize("line,by", [
    ("| balenad: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found "
     "(required by balenad)", "balenad"),
    ("/x/recipe-sysroot-native/usr/bin/python3: /lib64/libc.so.6: version `GLIBC_2.33' "
     "not found (required by /x/recipe-sysroot-native/usr/lib/libpython3.12.so.1.0)",
     "/x/recipe-sysroot-native/usr/lib/libpython3.12.so.1.0"),
    ("protoc: /usr/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.30' not "
     "found (required by protoc)", "protoc"),
])
def test_loader_version_mismatch(line, by):
    f = _first(line + "\n| WARNING: exit code 1 from a shell command.")
    assert f.id == "log.shared-library" and by in f.cause and f.line_no == 1


def test_loader_missing_library():
    f = _first("qemu-aarch64: error while loading shared libraries: libglib-2.0.so.0: cannot "
               "open shared object file: No such file or directory")
    assert f.id == "log.shared-library" and "libglib-2.0.so.0" in f.cause


# kas repos.py's RepoRefError messages, wrapped at every word boundary: the family is
# found and the quoted line is the one holding the larger part of the message
@pytest.mark.parametrize("msg", [
    'Branch "scarthgap" in repository "meta-bsp" does not contain commit '
    '"3a279bdab1c63ca62881b7078887245de91a6f75"',
    'Branch "kirkstone" cannot be found in repository "meta-x"',
    'Tag "v1.2" cannot be found in repository "meta-x"',
])
def test_kas_ref_message_wrapped_anywhere(msg):
    words = msg.split(" ")
    for i in range(1, len(words)):
        head, tail = " ".join(words[:i]), " ".join(words[i:])
        d = scan(f"ERROR - {head}\n        {tail}")
        assert d.first is not None and d.first.id == "log.remote-ref-missing", (head, tail)
        want = 1 if len(head) >= len(tail) else 2
        assert d.first.line_no == want, (head, tail, d.first.line_no)


def test_parse_error_wrapped_after_its_header_quotes_the_message():
    """bitbake's "ParseError at %s:%d: %s" broken after "at": the quoted line
    is the one with the file and the message, not the bare header."""
    d = scan("ERROR: ParseError at\n/x/meta-y/recipes-kernel/linux/linux-yocto-rt_5.%.bbappend"
             ":1: Could not include required file linux-yocto-rt-tpm2.inc ERROR: Parsing "
             "halted due to errors, see error messages above")
    assert d.first.id == "log.parse-error" and d.first.line_no == 2


# bitbake lib/bb/build.py exec_func_shell: os.mkfifo(fifopath) on a filesystem
# that refuses FIFOs; utils.py lockfile: fcntl.flock on one without locks
@pytest.mark.parametrize("call,exc", [
    ("os.mkfifo(fifopath)", "OSError: [Errno 5] Input/output error"),
    ("os.mkfifo(fifopath)", "OSError: [Errno 95] Operation not supported"),
    ("fcntl.flock(fileno, op)", "OSError: [Errno 37] No locks available"),
    ("os.link(src, dest)", "PermissionError: [Errno 1] Operation not permitted"),
])
def test_filesystem_refusal_under_a_task_wrapper(call, exc):
    text = ("ERROR: Build of do_configure failed\nERROR: Traceback (most recent call last):\n"
            '  File "/w/poky/bitbake/lib/bb/build.py", line 365, in exec_func_shell\n'
            f"    {call}\n{exc}\n")
    f = _first(text)
    assert f.id == "log.fs-unsupported" and f.line == exc, (f.id, f.line)


def test_missing_file_is_no_filesystem_refusal():
    text = ("Traceback (most recent call last):\n  File \"/x/bb/build.py\", line 1, in f\n"
            "    os.mkfifo(fifopath)\nFileExistsError: [Errno 17] File exists: '/x/fifo'\n")
    assert _first(text).id != "log.fs-unsupported"


@pytest.mark.parametrize("line", [
    "ERROR: Build of do_configure failed",               # bitbake build.py
    "error: Failed dependencies:",                       # rpm's header above its problems
    "ERROR: Function 'do_rootfs' failed",                # bitbake before 1.14
    "ERROR: If the above message is too much, the simpler version is you're advised to "
    "wipe out tmp and rebuild (reusing sstate is fine).",  # sstate.bbclass's advice
    "ERROR: Licensing Error: LIC_FILES_CHKSUM does not match, please fix",
])
def test_wrappers_are_never_a_cause(line):
    assert firstcause.WRAPPER.search(line)
    d = scan(line + "\nERROR: foo-1.0-r0 do_compile: something broke on its own\n")
    assert d.first.line_no == 2, (line, d.first.line)


def test_rpm_failed_dependencies_names_the_problem_line():
    """rpm lib/rpmprob.c: "%s is needed by %s" under "error: Failed dependencies:"."""
    d = scan("| error: Failed dependencies:\n|\teglibc >= 2.12 is needed by "
             "libstdc++6-4.5.1-r2.armv5te\n|\tlibfoo.so.1 is needed by bar-1.0-r0.armv5te\n"
             "ERROR: Function failed: do_rootfs")
    assert d.first.id == "log.rootfs-unresolvable" and d.first.line_no == 2
    assert "eglibc >= 2.12" in d.first.cause and "libstdc++6-4.5.1-r2.armv5te" in d.first.cause


@pytest.mark.parametrize("prefix", ["ERROR: ", "RROR: ", ""])
def test_sstate_manifest_missing(prefix):
    """oe-core meta/lib/oe/sstatesig.py find_sstate_manifest, whatever the prefix."""
    f = _first(f"{prefix}img-1.0-r0 do_prepare_recipe_sysroot: The sstate manifest for task "
               "'foo-native:populate_sysroot' (multilib variant '') could not be found.\n"
               "The pkgarchs considered were: qemuarm64, allarch, x86_64_x86_64-nativesdk.")
    assert f.id == "log.sstate-manifest-missing" and "foo-native" in f.cause


@pytest.mark.parametrize("text,what", [
    ("ERROR: img-1.0-r0 do_image_cpio: The initramfs size 36864(K) exceeds "
     "INITRAMFS_MAXSIZE: 32768(K)", "INITRAMFS_MAXSIZE"),
    ("ERROR: img-1.0-r0 do_image_cpio: The initramfs size 5251072(K) overrides "
     "INITRAMFS_MAXSIZE: 131072(K)", "INITRAMFS_MAXSIZE"),         # before oe-core 2.6
    ("| ERROR: Actual rootfs size (17273 kB) is larger than allowed size 16384 kB", "16384"),
    ("ERROR: File system image of partition /boot is larger (70000 kB) than its allowed "
     "size 65536 kB", "partition /boot"),
])
def test_image_size_limits(text, what):
    f = _first(text)
    assert f.id == "log.image-too-big" and what in f.cause, (f.id, f.cause)


def test_sstate_overlap_advice_without_its_first_line():
    """sstate.bbclass (before 3.0) printed the overlap's advice as part of the
    message; a post that lost the first line still names the overlap."""
    d = scan("The build has stopped, as continuing in this scenario WILL break things - if "
             "not now, possibly in the future.\nERROR: If the above message is too much, the "
             "simpler version is you're advised to wipe out tmp and rebuild (reusing sstate "
             "is fine).\nERROR: Function failed: sstate_task_postfunc")
    assert d.first.id == "log.sysroot-conflict" and d.first.line_no == 1


@pytest.mark.parametrize("literal,check", sorted(QA_UNLABELLED.items()))
def test_qa_messages_without_their_frame_name_the_check(literal, check):
    f = _first(f"ERROR: foo-native: {literal} file:///x/LICENSE;md5=0123")
    assert f.id == "log.qa-issue" and f"[{check}]" in f.cause and "foo-native" in f.cause
    assert "usually: " in f.fix


def test_old_kas_asyncio_error_on_an_undefined_include_repo():
    d = scan("2020-10-10 03:05:36 - INFO     - kas 2.1.1 started\n"
             "2020-10-10 03:05:36 - ERROR    - Set of coroutines/Futures is empty.\n"
             "Traceback (most recent call last):")
    assert d.first.id == "log.kas-include" and d.first.line_no == 2
    assert d.first.id != UNRECOGNISED


def test_relayed_tool_line_in_a_successful_build_is_no_failure():
    """A curl line relayed on the console of a build whose summary says all
    tasks succeeded (the fetch was retried from a mirror) is a warning."""
    d = scan("NOTE: Executing Tasks\nFailed to connect to github.com port 443: Connection "
             "timed out\nNOTE: Tasks Summary: Attempted 10 tasks of which 9 didn't need to be "
             "rerun and all succeeded.\n")
    assert not d.failed and [f.severity for f in d.findings] == ["warn"]


def test_every_example_wrapped_at_any_word_is_recognised():
    """Every one-line error text of the catalogue, broken at each of its word
    boundaries (a terminal's width, a mailer's flowed text), is still found:
    keys broken at a space are searched in posted excerpts too."""
    from armvm_oe.doctor.logscan import PATTERNS
    missed, tried = [], 0
    for p in PATTERNS:
        words = p.example.split(" ")
        if "\n" in p.example or p.cascade or len(words) < 4:
            continue
        for i in range(1, len(words)):
            tried += 1
            d = scan(" ".join(words[:i]) + "\n    " + " ".join(words[i:]))
            if p.fid not in [f.id for f in d.findings]:
                missed.append((p.id, i))
    assert tried > 500 and missed == []
