"""oe-core's QA checks: insane.bbclass (and the few other classes that call
oe.qa.handle_error), printed by meta/lib/oe/qa.py as
``QA Issue: <message> [<check>]`` (bb.error for ERROR_QA, bb.warn for
WARN_QA). One family, ``log.qa-issue``; :data:`QA_FIXES` says, per check,
what it found and the fix it usually needs. tests/doctor/test_catalogue_sources.py
fails when insane.bbclass (scarthgap or wrynose) has a check this table
lacks."""

from __future__ import annotations

import re

from armvm_oe.doctor.logcatalogue._base import P, S

_RM = "remove it in do_install:append (rm ${D}...)"
_PKG = "ship it in a package (FILES:${PN}-<pkg> += ...)"
_DEP = "add the providing recipe to RDEPENDS:${PN} (or DEPENDS at build time)"
_LIC = "fix LICENSE / LIC_FILES_CHKSUM in the recipe"

# check -> (what it found, the usual fix)
QA_FIXES: dict = {
    "32bit-time": ("a 32-bit binary uses 32-bit time_t functions (year 2038)",
                   "build with -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 (or update the source)"),
    "already-stripped": ("the build stripped the binaries itself, so no debug symbols",
                         "stop the build's own stripping (e.g. install -s, LDFLAGS -s; "
                         "pass INSTALL_STRIP= / --disable-strip)"),
    "arch": ("a binary of the wrong architecture/ABI is in the package",
             "build it with the cross compiler (${CC}, ${HOST_PREFIX}) or, for firmware, "
             "INSANE_SKIP the package"),
    "build-deps": ("a package needs another at runtime that the recipe never depends on",
                   _DEP),
    "buildpaths": ("the output holds the build directory's path (TMPDIR)",
                   "make the build reproducible: -fdebug-prefix-map / strip the path from "
                   "generated files"),
    "compile-host-path": ("the compile used host paths (/usr/include, /usr/lib)",
                          "fix the Makefile/configure so it uses ${STAGING_*} (the sysroot)"),
    "configure-gettext": ("the recipe uses AM_GNU_GETTEXT but does not inherit gettext",
                          "inherit gettext"),
    "configure-unsafe": ("configure looked in host directories (CONFIG_SITE unsafe paths)",
                         "pass the sysroot paths to configure (EXTRA_OECONF) instead of "
                         "host ones"),
    "debug-deps": ("a -dbg package is a runtime dependency of a non-debug package", _DEP),
    "debug-files": (".debug files in a non-dbg package", "let the -dbg package take them "
                    "(fix FILES, don't add .debug dirs to FILES:${PN})"),
    "dep-cmp": ("an RDEPENDS/RRECOMMENDS version comparison has a bad operator",
                "use one of = < > <= >= in (R)DEPENDS version constraints"),
    "desktop": ("a .desktop file does not validate", "fix the .desktop file"),
    "dev-deps": ("a non-dev package depends on a -dev package",
                 "drop the -dev runtime dependency (or move the file that needs it)"),
    "dev-elf": ("a -dev package holds a real ELF library, not a symlink",
                "put the versioned library in ${PN} and only the .so symlink in -dev"),
    "dev-so": ("a .so symlink (development file) is in a non-dev package",
               "move the unversioned .so to ${PN}-dev (FILES_SOLIBSDEV) or set "
               "FILES_SOLIBSDEV = \"\" for plugins"),
    "empty-dirs": ("files installed in a directory that must stay empty (e.g. /var/run)",
                   "install them at runtime (tmpfiles.d / volatiles), not in the package"),
    "expanded-d": ("a packaging script contains the expanded ${D} path",
                   "use $D (runtime) instead of ${D} in pkg_postinst"),
    "file-rdeps": ("a file needs a runtime provider that no RDEPENDS brings (a shebang "
                   "interpreter or a library)", _DEP),
    "files-invalid": ("FILES uses '//' or another invalid path", "fix the FILES entry"),
    "host-user-contaminated": ("files owned by the build host's user/group (not created "
                               "under pseudo)", "install with 'install -o root' / chown in "
                               "do_install; don't copy with cp -a/tar preserving host owners"),
    "incompatible-license": ("a package's license is in INCOMPATIBLE_LICENSE",
                             "drop the package from the image or change INCOMPATIBLE_LICENSE"),
    "infodir": ("an info 'dir' file is installed", "rm ${D}${infodir}/dir in do_install"),
    "install-host-path": ("the install step used host paths",
                          "fix the install rules to use ${D} and the sysroot"),
    "installed-vs-shipped": ("do_install created files no package ships",
                             f"{_PKG}, or {_RM}"),
    "invalid-chars": ("a package variable holds non-UTF-8 characters",
                      "fix the recipe's text (DESCRIPTION/SUMMARY...)"),
    "invalid-packageconfig": ("PACKAGECONFIG names an option the recipe does not define",
                              "fix the PACKAGECONFIG value (see the recipe's "
                              "PACKAGECONFIG[...] flags)"),
    "la": (".la files hold build paths", "remove them in do_install or fix libtool"),
    "ldflags": ("binaries linked without the distro LDFLAGS (no GNU_HASH)",
                "make the build use ${LDFLAGS} (pass LDFLAGS to make/cmake)"),
    "libdir": ("libraries in the wrong directory (lib vs lib64/libdir)",
               "install into ${libdir}/${base_libdir}"),
    "libexec": ("files in /usr/libexec while libexecdir is elsewhere",
                "install into ${libexecdir}"),
    "license-checksum": ("LIC_FILES_CHKSUM does not match the license file", _LIC +
                         " (check what changed in the license text, then update md5)"),
    "license-exception": ("an incompatible license is allowed by exception",
                          "nothing, unless the exception is wrong"),
    "license-exists": ("a license named in LICENSE has no text in the layers",
                       "add the license text (LICENSE_PATH) or fix the name"),
    "license-file-missing": ("a license file of the image manifest is missing",
                             "fix the recipe's LIC_FILES_CHKSUM / licence deployment"),
    "license-format": ("LICENSE is not a valid expression", "use & and | in LICENSE"),
    "license-incompatible": ("a license is in INCOMPATIBLE_LICENSE",
                             "drop the package or change INCOMPATIBLE_LICENSE"),
    "license-no-generic": ("no generic license text for a LICENSE entry",
                           "add NO_GENERIC_LICENSE[name] = \"file\""),
    "license-syntax": ("LICENSE has a syntax error", _LIC),
    "mime": ("MIME files without inherit mime", "inherit mime"),
    "mime-xdg": ("a .desktop with MimeType without inherit mime-xdg", "inherit mime-xdg"),
    "missing-maintainer": ("no maintainer listed", "add the recipe to maintainers.inc"),
    "missing-metadata": ("SUMMARY/HOMEPAGE missing", "set SUMMARY and HOMEPAGE"),
    "missing-ptest": ("ptest support exists in the source but is not enabled",
                      "inherit ptest and add run-ptest"),
    "missing-update-alternatives": ("ALTERNATIVE_* set without inherit update-alternatives",
                                    "inherit update-alternatives"),
    "multilib": ("a multilib package references the non-multilib one",
                 "use ${MLPREFIX} in the dependency"),
    "native-last": ("inherit native/nativesdk is not last", "move inherit native last"),
    "obsolete-license": ("LICENSE uses an obsolete SPDX name", "use the current SPDX name"),
    "packages-list": ("a package is listed twice in PACKAGES", "remove the duplicate"),
    "patch-fuzz": ("a patch applied with fuzz", "refresh the patch (devtool "
                   "finish, or quilt refresh) against this source"),
    "patch-status": ("a patch lacks a valid Upstream-Status", "add 'Upstream-Status: "
                     "Pending|Submitted|Backport|Inappropriate [...]' to the patch header"),
    "pep517-backend": ("a setuptools recipe without a PEP-517 backend",
                       "inherit python_setuptools_build_meta (or the matching backend)"),
    "perllocalpod": ("perllocal.pod is installed", "remove it in do_install"),
    "perm-config": ("fs-perms.txt entry malformed", "fix the permission table"),
    "perm-line": ("fs-perms.txt line malformed", "fix the permission table"),
    "perm-link": ("fs-perms.txt link entry malformed", "fix the permission table"),
    "perms": ("bad file permissions", "fix the install mode"),
    "pkgconfig": (".pc files hold build paths", "fix the .pc generation"),
    "pkgname": ("a package name has upper case or invalid characters", "rename it"),
    "pkgv-undefined": ("PKGV is undefined", "set PV/PKGV"),
    "pkgvarcheck": ("a package variable is set without the package suffix",
                    "use VAR:${PN} (e.g. RDEPENDS:${PN}), not bare RDEPENDS"),
    "pn-overrides": ("PN collides with an override name", "rename the recipe"),
    "recipe-naming": ("the recipe file name does not follow the naming rules",
                      "rename the recipe (no uppercase, -native suffixes via BBCLASSEXTEND)"),
    "rpaths": ("binaries have RPATHs into the build tree", "link without -rpath to build "
               "dirs (e.g. cmake -DCMAKE_SKIP_RPATH=ON, libtool fix)"),
    "shebang-size": ("a script's #! line is longer than the kernel allows",
                     "shorten the interpreter path (e.g. /usr/bin/env python3)"),
    "split-strip": ("splitting/stripping debug info failed", "check the binary (objcopy "
                    "error above)"),
    "src-uri-bad": ("SRC_URI uses a GitHub archive or ${PN} in the URL",
                    "use the git fetcher with a SRCREV, or a release tarball"),
    "staticdev": ("a .a static library is in a non-staticdev package",
                  "let ${PN}-staticdev take it (don't add *.a to FILES:${PN})"),
    "symlink-to-sysroot": ("a symlink points into the build sysroot",
                           "make the symlink relative or point it at the target path"),
    "textrel": ("a library has text relocations (not built with -fPIC)",
                "build with -fPIC (CFLAGS), or fix the assembly"),
    "unhandled-features-check": ("ANY_OF/REQUIRED_DISTRO_FEATURES set without inherit "
                                 "features_check", "inherit features_check"),
    "unimplemented-ptest": ("the source has tests that the recipe does not run as ptest",
                            "add ptest support or ignore the warning"),
    "unknown-configure-option": ("configure does not know an option passed to it",
                                 "drop the option from EXTRA_OECONF / PACKAGECONFIG"),
    "unlisted-pkg-lics": ("LICENSE:${PN}-x names a license not in LICENSE",
                          "add it to LICENSE or fix the package license"),
    "uppercase-pn": ("the recipe name has upper case", "rename the recipe in lower case"),
    "useless-rpaths": ("binaries have RPATHs to default library directories",
                       "link without -rpath ${libdir}"),
    "usrmerge": ("files in /bin, /sbin or /lib while usrmerge is on",
                 "install into ${bindir}/${libdir} (respect ${base_*} variables)"),
    "var-undefined": ("a required variable is undefined", "set it in the recipe"),
    "version-going-backwards": ("the package version went down (PR service)",
                                "bump PE/PR or use the PR service consistently"),
    "virtual-slash": ("a virtual/ name used in RDEPENDS/RPROVIDES",
                      "use virtual/ names only in DEPENDS/PROVIDES"),
    "xorg-driver-abi": ("an xorg driver recipe without inherit xserver abi",
                        "inherit xorg-driver-common / set the ABI dependency"),
}


# message literal -> QA check, for QA messages printed without their frame
QA_UNLABELLED = {
    "This autoconf log indicates errors, it looked at host include": "configure-unsafe",
    "The LIC_FILES_CHKSUM does not match for": "license-checksum",
    "LIC_FILES_CHKSUM points to an invalid file": "license-checksum",
    "does not have license file information (LIC_FILES_CHKSUM)": "license-checksum",
    "md5 data is not matching for": "license-checksum",
    "md5 checksum is not specified for": "license-checksum",
}
_INSANE, _INSANE_OLD = "meta/classes-global/insane.bbclass", "meta/classes/insane.bbclass"
UNLABELLED_SOURCES = (
    S("oe-core", _INSANE, "This autoconf log indicates errors, it looked at host include and/or "
      "library paths while determining system capabilities."),
    S("oe-core", _INSANE, "%s: The LIC_FILES_CHKSUM does not match for %s"),
    S("oe-core", _INSANE, "%s: LIC_FILES_CHKSUM points to an invalid file: %s"),
    S("oe-core", _INSANE, "%s: Recipe file fetches files and does not have license file "
      "information (LIC_FILES_CHKSUM)"),
    S("oe-core", _INSANE_OLD, "%s: md5 data is not matching for %s", ref="yocto-2.0"),
    S("oe-core", _INSANE_OLD, "%s: md5 checksum is not specified for %s", ref="yocto-2.0"),
    S("oe-core", _INSANE_OLD, "%s: Recipe file does not have license file information "
      "(LIC_FILES_CHKSUM)", ref="yocto-2.0"),
)


def _f_qa(g: dict, ctx) -> dict:
    check = g.get("check") or (ctx.forward(r"\[([a-z0-9-]+)\]\s*$", 8) if ctx else None)
    recipe = g.get("pkg") or g.get("from")
    if not recipe and ctx is not None:
        m = re.search(r" from (\S+) was ", ctx.model.lines[ctx.idx].text)
        recipe = m.group(1) if m else None
    if not recipe and g.get("recipe"):
        # PF (pn-pv-pr) -> pn
        recipe = re.sub(r"-\d[\w.+~]*(?:-[\w.+~]+)*?-r\d+(?:\.\d+)?$", "", g["recipe"])
    what, fix = QA_FIXES.get(check or "", ("", ""))
    return {"check_label": f"[{check}]" if check else "that the log does not name",
            "recipe_label": f"recipe {recipe}" if recipe else "the recipe",
            "what": what or "it installs or builds something the packaging rules reject "
                            "(the QA message on this line says what)",
            "usual_fix": f"usually: {fix}" if fix else "see the 'QA Error and Warning "
                                                       "Messages' reference",
            "skip": (f'INSANE_SKIP:${{PN}} += "{check}"' if check else
                     "INSANE_SKIP for that check")}


PATTERNS = (
    P("log.qa-issue", "a QA check failed", "error", 3,
      r"(?:(?P<recipe>\S+) do_\w+: )?QA Issue: (?:(?P<pkg>[\w.+-]+): )?(?P<msg>.*?)"
      r"(?:\[(?P<check>[a-z0-9-]+)\])?\s*$|QA Issue: File '[^']+' from (?P<from>\S+)",
      "the QA check {check_label} failed for {recipe_label}: {what}",
      "Fix {recipe_label} for the QA check {check_label} ({usual_fix}); only if the "
      "result is intended, add {skip} to the recipe",
      "ERROR: glibc-2.23-r0 do_package: QA Issue: glibc: Files/directories were installed "
      "but not shipped in any package: [installed-vs-shipped]", ("QA Issue",),
      fields=_f_qa, phase="build",
      sources=(S("oe-core", "meta/lib/oe/qa.py", "QA Issue: %s [%s]",
                 "QA Issue: foo: Files/directories were installed but not shipped in any "
                 "package: [installed-vs-shipped]"),)),
    # the same checks' messages printed without the "QA Issue: ... [check]"
    # frame (older releases called bb.fatal/bb.error directly; users paste
    # the line alone): the check is known from the message
    P("log.qa-issue.unlabelled", "a QA check failed", "error", 3,
      r"(?:(?<![\w.+-])(?!(?:ERROR|WARNING|NOTE|FATAL|DEBUG):)(?P<recipe>[\w.+-]+)(?: do_\w+)?: )?"
      r"(?P<msg>(?:" +
      "|".join(re.escape(k) for k in QA_UNLABELLED) + r").*)",
      "the QA check {check_label} failed for {recipe_label}: {what}",
      "Fix {recipe_label} for the QA check {check_label} ({usual_fix}); only if the "
      "result is intended, add {skip} to the recipe",
      "ERROR: foo-native: md5 data is not matching for file://LICENSE;md5=0123",
      tuple(QA_UNLABELLED), family="log.qa-issue", phase="build", sources=UNLABELLED_SOURCES,
      fields=lambda g, c: _f_qa(dict(g, check=next(v for k, v in QA_UNLABELLED.items()
                                                   if k in g["msg"])), c)),
)
