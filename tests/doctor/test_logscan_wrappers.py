"""Header and wrapper lines over the real message, and the messages the r2
round of held-out logs found missing: each case is the form the source
prints (bitbake lib/bb/server/process.py, dnf/libsolv, opkg
libopkg/opkg_install.c, autoconf's AC_MSG_FAILURE, binutils ld,
kernel.bbclass, openbmc's image classes, wic's source plugins)."""

from __future__ import annotations

import pytest

from armvm_oe.doctor import firstcause
from armvm_oe.doctor.logscan import scan


def _first(text: str, follow: bool = True):
    d = scan(text, follow=follow)
    assert d.failed and d.first is not None, [f.id for f in d.findings]
    return d.first


def test_dnf_bare_error_header_is_not_the_cause():
    """dnf prints 'Error: ' alone, then libsolv's problems one per line."""
    f = _first("ERROR: img-1.0-r0 do_rootfs: Could not invoke dnf. Command '/x/dnf' returned 1:\n"
               "Error: \n"
               " Problem: package foo-1.0-r0.armv8a requires libbar.so.1, but none of the "
               "providers can be installed\n"
               "  - package baz-2.0-r0.armv8a conflicts with bar < 1.0 provided by "
               "bar-0.9-r0.armv8a\n  - conflicting requests\n")
    assert f.id == "log.rootfs-unresolvable"
    assert "Problem: package foo" in f.line
    assert "libbar.so.1" in f.cause and "foo-1.0-r0.armv8a" in f.cause
    assert firstcause.WRAPPER.search("Error: ")
    assert not firstcause.WRAPPER.search("Error: nothing provides foo")


def test_bitbake_server_wrapper_sorts_after_the_servers_own_error():
    """process.py: 'Unable to start bitbake server (%s)', then 'Server log
    for this session (%s):' and the server's log holding the real error."""
    text = ("ERROR: Unable to start bitbake server (None)\n"
            "ERROR: Server log for this session (/b/bitbake-cookerdaemon.log):\n"
            "--- Starting bitbake server pid 4836 at 2018-09-22 23:46:00.420139 ---\n"
            "ERROR: ParseError at /b/conf/auto.conf:12: unparsed line: 'X ?= \"a b'\n")
    d = scan(text)
    assert [f.id for f in d.findings][:2] == ["log.parse-error", "log.lock-held"]
    assert "auto.conf:12" in d.first.line
    # alone, the wrapper is still the finding (the server's log was not posted)
    assert _first("ERROR: Unable to start bitbake server (None)\n").id == "log.lock-held"


def test_opkg_file_clash_over_blank_lines():
    """opkg: 'Package %s wants to install file %s\\n\\tBut that file is already
    provided by package  * %s', posted with the file and the package on
    lines of their own between blank lines, above the do_rootfs wrapper."""
    f = _first("check_data_file_clashes: Package catkin wants to install file\n\n"
               "/w/rootfs/opt/ros/indigo/bin/catkin_find\n\n"
               "But that file is already provided by package  * catkin-runtime\n\n"
               "ERROR: Function failed: do_rootfs\n"
               "ERROR: Logfile of failure stored in: /w/temp/log.do_rootfs.20301\n")
    assert f.id == "log.rootfs-file-conflict"
    assert "wants to install file" in f.line
    assert "catkin_find" in f.cause and "catkin-runtime" in f.cause
    # the one-line form still names its file
    f = _first(" * check_data_file_clashes: Package foo wants to install file /usr/bin/foo\n")
    assert "/usr/bin/foo" in f.cause


@pytest.mark.parametrize("q", ["`", "'"])     # autoconf 2.69 / 2.72 quoting
def test_autoconf_failure_preamble_is_not_the_message(q):
    """AC_MSG_FAILURE prints 'configure: error: in `<dir>':' and then
    'configure: error: <message>'."""
    pre = f"| configure: error: in {q}/b/work/x/1.0-r0/build':\n"
    text = pre + ("| configure: error: cannot run C compiled programs.\n"
                  "| If you meant to cross compile, use `--host'.\n")
    f = _first(text)
    assert f.id == "log.configure-error" and "cannot run C compiled" in f.line
    assert "cannot run C compiled programs" in f.cause
    assert firstcause.WRAPPER.search(pre[2:].rstrip("\n"))
    assert not firstcause.WRAPPER.search("configure: error: in the way")


def test_a_header_ending_in_its_location_quotes_the_line_below():
    """bitbake's ParseError printed as 'ParseError at <file>:<n>:' with its
    message on the next line (a long path, so the first line is longer)."""
    f = _first("ERROR: ParseError at /very/long/path/to/meta-layer/recipes-sdk/aws-sdk-cpp/"
               "aws-sdk-cpp_1.11.291.bb:430:\n"
               "Unparsed lines: ['# ec2;', '# s3;']\n"
               "ERROR: Parsing halted due to errors, see error messages above\n")
    assert f.id == "log.parse-error" and f.line.startswith("Unparsed lines:")
    # on one line the message stays where it is
    f = _first("ERROR: ParseError at /x/a.bb:3: unparsed line: 'A = \"b'\n")
    assert f.line.startswith("ERROR: ParseError at /x/a.bb:3:")


def test_linker_multiple_definition_without_an_error_marker_is_a_failure():
    """binutils ld: '%s: multiple definition of `%s'; %s: first defined here'
    (gcc >= 10 defaults to -fno-common), posted without any ERROR: line."""
    line = ("scripts/dtc/dtc-parser.tab.o:(.bss+0x50): multiple definition of `yylloc'; "
            "scripts/dtc/dtc-lexer.lex.o:(.bss+0x0): first defined here")
    f = _first(line + "\n")
    assert f.id == "log.link-error" and "yylloc" in f.cause and "-fcommon" in f.cause
    # in a task log with no family, the structural first cause is the ld line
    assert firstcause.TASK_ERROR.search(line)
    assert firstcause.kind(line) == "a linker error"
    assert firstcause.WRAPPER.search("collect2: error: ld returned 1 exit status")


@pytest.mark.parametrize("text,what", [
    ("ERROR: obmc-phosphor-image-1.0-r0 do_generate_static: Image '/d/fitImage-obmc' is too "
     "large! start_kb=512,finish_kb=4864,maxsize=4456448,imgsize=4584800", "/d/fitImage-obmc"),
    ("ERROR: linux-yocto-6.6-r0 do_sizecheck: All kernel images are too big for your device. "
     "Please reduce the size of the kernel by making more of it modular.", "the kernel"),
])
def test_image_too_large_in_words(text, what):
    f = _first(text + "\n")
    assert f.id == "log.image-too-big" and what in f.cause


def test_kernel_too_big_warning_alone_is_no_failure():
    """kernel.bbclass warns per image type (bbwarn) and dies only when all are."""
    d = scan("WARNING: linux-1.0-r0 do_sizecheck: This kernel zImage (size=5000(K) > 4096(K)) "
             "is too big for your device.\nNOTE: Tasks Summary: Attempted 10 tasks of which 9 "
             "didn't need to be rerun and all succeeded.\n")
    assert not d.failed and [f.severity for f in d.findings] == ["warn"]


def test_wic_plugin_signature_mismatch_bare_and_in_a_traceback():
    """A SourcePlugin's do_*() (wic/pluginbase.py) rejecting what wic passes:
    a layer's copy of a plugin older than the wic calling it."""
    exc = ("TypeError: BootimgPartitionPlugin.do_prepare_partition() got an unexpected "
           "keyword argument 'sector_size'")
    f = _first(exc + "\n")
    assert f.id == "log.wic" and "BootimgPartitionPlugin" in f.cause and f.line == exc
    tb = ("Traceback (most recent call last):\n"
          "  File \"/b/poky/scripts/lib/wic/partition.py\", line 180, in prepare\n"
          "    plugin.do_prepare_partition(self, srcparams_dict, creator,\n"
          "  File \"/b/meta-xilinx/scripts/lib/wic/plugins/source/bootimg-partition.py\", "
          "line 40, in x\n    y()\n" + exc + "\n")
    f = _first(tb)
    assert f.id == "log.wic"
    assert "meta-xilinx/scripts/lib/wic/plugins/source/bootimg-partition.py" in f.cause
