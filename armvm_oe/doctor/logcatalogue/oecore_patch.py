"""oe-core's patch machinery at do_patch: meta/lib/oe/patch.py (QuiltTree,
PatchTree, GitApplyTree; its CmdError "Command Error: '%s' exited with %d
Output:" wraps the tool's output) and meta/classes-global/patch.bbclass
("Applying patch '%s' on target directory '%s'"), plus the messages of the
tools it runs that say which patch and hunk failed: quilt ("Patch %s does
not apply (enforce with -f)") and GNU patch ("Hunk #%d FAILED at %d.",
"%d out of %d hunks FAILED -- rejects in file %s"). quilt and patch are
not read by the tests (their messages are unit-tested in
tests/doctor/test_logscan_messages.py); oe-core's are, from the mirror.

A kas patch (git apply on a repo of the kas config, before bitbake runs)
is :mod:`kas`'s ``log.kas-patch``; these are a recipe's SRC_URI patches."""

from __future__ import annotations

from armvm_oe.doctor.logcatalogue._base import P, S, attach

_CAUSE = ("a patch of {recipe}'s SRC_URI{which} does not apply to its source at do_patch: "
          "the patch was written for another version of the source (a recipe upgraded "
          "under a layer's patch, or a wildcard bbappend such as foo_%.bbappend / "
          "foo_1.8.%.bbappend adding a patch made for one version to every version), or "
          "it is already applied upstream")
_FIX = ("Refresh the patch for this version (devtool modify <recipe>, rebase it, devtool "
        "finish; or quilt push -f / quilt refresh in the recipe's source), or drop it from "
        "the bbappend/SRC_URI if upstream has it; pin a wildcard bbappend to the version "
        "the patch was made for (foo_1.8.7.bbappend, not foo_%.bbappend); the .rej files "
        "beside the source show each failed hunk")


def _fields(g: dict, c) -> dict:
    patch = (g.get("patch") or g.get("patch2") or g.get("patch3")
             or c.forward(r"Patch (\S+) does not apply", 30)
             or c.forward(r"^(?:'?stdout: )?Applying patch '?([^'\s]+)", 6))
    return {"which": f" ({patch})" if patch else "",
            "recipe": g.get("recipe") or "the recipe"}


_KEYS = ("Command Error: '", "does not apply (enforce with -f)", "FAILED at ",
         "FAILED -- rejects in file", "on target directory '", "' failed:")

PATTERNS = (
    P("log.recipe-patch", "a recipe patch does not apply at do_patch", "error", 3,
      # quilt's "Patch %s does not apply (enforce with -f)"; GNU patch's hunk
      # lines; oe-core's CmdError header over a quilt/patch/git command;
      # patch.bbclass's "Applying patch '%s' on target directory '%s'";
      # PatchTree's "Applying '%s' failed:"
      r"(?:(?P<recipe>[\w.+-]+)-[^\s-]+-r\d+ do_patch: )?(?:"
      r"Command Error: '(?:\S*/)?(?:quilt|patch|git|sh)\b[^']*' exited with -?\d+\s+Output:|"
      r"Applying patch '(?P<patch>[^']+)' on target directory '[^']*'|"
      r"Applying '(?P<patch2>[^']+)' failed:|"
      r"Patch (?P<patch3>\S+) does not apply \(enforce with -f\)|"
      r"Hunk #\d+ FAILED at \d+\.?|\d+ out of \d+ hunks? FAILED -- (?:saving )?rejects? (?:in|to) "
      r"file \S+)",
      _CAUSE, _FIX,
      "Patch 600-shared-libext.patch does not apply (enforce with -f)",
      _KEYS, phase="build", fields=_fields),
)

_LIB, _CLS = "meta/lib/oe/patch.py", "meta/classes-global/patch.bbclass"
SOURCES = {
    "log.recipe-patch": (
        S("oe-core", _LIB, "Command Error: '%s' exited with %d  Output:\n%s",
          "iptables-1.8.4-r0 do_patch: Command Error: 'quilt --quiltrc /w/quiltrc push' "
          "exited with 0  Output:\nApplying patch 600-shared-libext.patch\n"
          "Hunk #1 FAILED at 8.\nPatch 600-shared-libext.patch does not apply (enforce "
          "with -f)"),
        S("oe-core", _LIB, "Applying '%s' failed:\n%s",
          "Applying 'fix.patch' failed:\nHunk #1 FAILED at 3."),
        S("oe-core", _CLS, "Applying patch '%s' on target directory '%s'\n%s",
          "foo-1.0-r0 do_patch: Applying patch 'fix.patch' on target directory "
          "'/w/foo-1.0'\nCmdError('quilt --quiltrc /w/quiltrc push', 0, 'stdout: Applying "
          "patch fix.patch"),
        S("host", "quilt/push.in", "Patch %s does not apply (enforce with -f)"),
        S("host", "patch/src/patch.c", "Hunk #%d FAILED at %d."),
        S("host", "patch/src/patch.c", "%d out of %d hunks FAILED -- rejects in file %s"),
    ),
}

PATTERNS = attach(PATTERNS, SOURCES)
