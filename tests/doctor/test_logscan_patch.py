"""A recipe patch that fails at do_patch (oe-core meta/lib/oe/patch.py and
patch.bbclass over quilt / GNU patch / git am) against a kas patch (kas
repos.py running git apply), and the line quoted under a header over a
command's output (bitbake fetch2 runfetchcmd, oe-core CmdError). Each case
is the printf format of the code that prints it, filled with sample values."""

from __future__ import annotations

import pytest

from armvm_oe.doctor.logscan import scan

# oe-core lib/oe/patch.py CmdError.__str__: "Command Error: '%s' exited with
# %d  Output:\n%s" over quilt push (QuiltTree); quilt's push.in "Patch %s does
# not apply (enforce with -f)"; GNU patch "Hunk #%d FAILED at %d." and "%d out
# of %d hunks FAILED -- rejects in file %s" (as sumo..dunfell print them)
QUILT = """\
ERROR: foo-1.2-r0 do_patch: Command Error: 'quilt --quiltrc /w/recipe-sysroot-native/etc/quiltrc push' exited with 0  Output:
Applying patch fix-build.patch
patching file Makefile.am
Hunk #1 FAILED at 12.
1 out of 1 hunk FAILED -- rejects in file Makefile.am
Patch fix-build.patch does not apply (enforce with -f)
ERROR: foo-1.2-r0 do_patch: Function failed: patch_do_patch
ERROR: Logfile of failure stored in: /w/foo/1.2-r0/temp/log.do_patch.123
ERROR: Task (/w/meta-x/recipes/foo/foo_1.2.bb:do_patch) failed with exit code '1'
"""

# oe-core patch.bbclass (kirkstone+): bb.fatal("Applying patch '%s' on target
# directory '%s'\n%s" % (local, patchdir, repr(e))) with e a CmdError
BBCLASS = """\
ERROR: foo-1.2-r0 do_patch: Applying patch 'fix-build.patch' on target directory '/w/foo/1.2-r0/foo-1.2'
CmdError('quilt --quiltrc /w/recipe-sysroot-native/etc/quiltrc push', 0, 'stdout: Applying patch fix-build.patch
patching file src/main.c
Hunk #2 FAILED at 40.
1 out of 2 hunks FAILED -- rejects in file src/main.c
Patch fix-build.patch does not apply (enforce with -f)

stderr: ')
ERROR: Logfile of failure stored in: /w/foo/1.2-r0/temp/log.do_patch.123
ERROR: Task (/w/meta-x/recipes/foo/foo_1.2.bb:do_patch) failed with exit code '1'
"""


@pytest.mark.parametrize("text,line", [
    (QUILT, "Hunk #1 FAILED at 12."),
    (BBCLASS, "ERROR: foo-1.2-r0 do_patch: Applying patch 'fix-build.patch' on target "
              "directory '/w/foo/1.2-r0/foo-1.2'"),
])
def test_recipe_patch_at_do_patch_is_not_a_kas_patch(text, line):
    d = scan(text)
    f = d.first
    assert f.id == "log.recipe-patch" and f.severity == "error", [x.id for x in d.findings]
    assert f.line == line
    assert "fix-build.patch" in f.cause and "foo" in f.cause
    assert "bbappend" in f.fix and "devtool" in f.fix
    assert "log.kas-patch" not in [x.id for x in d.findings]


@pytest.mark.parametrize("line", [
    "Patch 600-shared-libext.patch does not apply (enforce with -f)",      # quilt push.in
    "Hunk #3 FAILED at 118.",                                              # GNU patch
    "2 out of 2 hunks FAILED -- rejects in file iptables/Makefile.am",     # GNU patch
    "| Patch 0001-fix.patch does not apply (enforce with -f)",             # on a task log
])
def test_quilt_and_patch_messages_are_recipe_patches(line):
    f = scan(line).first
    assert f is not None and f.id == "log.recipe-patch", (line, f and f.id)
    assert f.line == line.lstrip("| ")


def test_kas_git_apply_stays_a_kas_patch():
    # kas repos.py: git apply --whitespace=nowarn <patch>; git's apply.c prints
    # "error: patch failed: %s:%ld" and "error: %s: patch does not apply"
    text = ("2024-05-01 10:00:00 - ERROR    - error: patch failed: conf/layer.conf:9\n"
            "2024-05-01 10:00:00 - ERROR    - error: conf/layer.conf: patch does not apply\n"
            "2024-05-01 10:00:00 - ERROR    - Could not apply patch. Please fix repos and "
            "patches:\n")
    f = scan(text).first
    assert f.id == "log.kas-patch", f.id
    assert scan("error: conf/layer.conf: patch does not apply").first.id == "log.kas-patch"


# bitbake lib/bb/fetch2/__init__.py runfetchcmd: FetchError("Fetch command %s
# failed with exit code %s, output:\n%s"); older bitbake left the command out
@pytest.mark.parametrize("text,line", [
    ("ERROR: Fetcher failure: Fetch command failed with exit code 4, output:\n"
     "failed: No route to host.\n\n", "failed: No route to host."),
    ("ERROR: foo-1.0-r0 do_fetch: Fetcher failure: Fetch command export PATH=\"/usr/bin\"; "
     "/usr/bin/env wget -t 2 -T 30 -P /dl 'http://example.org/foo-1.0.tar.gz' failed with "
     "exit code 4, output:\n--2024-01-01 10:00:00--  http://example.org/foo-1.0.tar.gz\n"
     "Resolving example.org... 93.184.216.34\n"
     "Connecting to example.org|93.184.216.34|:80... failed: Connection refused.\n",
     "Connecting to example.org|93.184.216.34|:80... failed: Connection refused."),
])
def test_output_header_quotes_the_line_that_failed(text, line):
    f = scan(text).first
    assert f is not None and f.id.startswith("log.") and f.id != "log.unrecognised", f
    assert f.line == line, (f.id, f.line)


def test_output_header_is_kept_as_evidence():
    text = ("ERROR: Fetcher failure: Fetch command failed with exit code 4, output:\n"
            "failed: No route to host.\n")
    f = scan(text).first
    assert [e["line_no"] for e in f.evidence] == [1, 2] and f.line_no == 2


def test_output_header_without_a_failure_line_keeps_the_header():
    text = "ERROR: Fetcher failure: Fetch command failed with exit code 4, output:\n\n"
    f = scan(text).first
    assert f.line.endswith("output:")
