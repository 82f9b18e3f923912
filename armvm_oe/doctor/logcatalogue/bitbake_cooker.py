"""bitbake's parser and cooker: ParseError (lib/bb/parse/parse_py/
ConfHandler.py, BBHandler.py), ExpansionError (lib/bb/data_smart.py),
layers and collections (lib/bb/cookerdata.py, cooker.py), providers
(lib/bb/event.py NoProvider, taskdata.py) and dangling bbappends."""

from __future__ import annotations

import re
from typing import Optional

from armvm_oe.doctor.logcatalogue._base import P, S, attach


def _f_parse(g: dict, ctx) -> dict:
    msg = g.get("msg") or ""
    where = g.get("file") or g.get("where") or "the metadata"
    m = re.search(r"Could not inherit file classes/(\S+)\.bbclass", msg)
    if m:
        cls = m.group(1)
        what = (f"{where} inherits class '{cls}', which no configured layer provides: "
                "the layer that has it is missing from bblayers.conf, or the class was "
                "removed/renamed in this release (a layer of another release)")
        fix = (f"Add the layer providing classes/{cls}.bbclass (bitbake-layers "
               "show-layers; layers.openembedded.org), or check out the layer branch that "
               "matches the core's release")
        return {"what": what, "parse_fix": fix}
    m = re.search(r"Could not include required file (\S+)", msg)
    k = re.search(r"conf/(distro|machine)/([\w.-]+)\.conf", m.group(1)) if m else None
    if k:
        var = k.group(1).upper()
        extra = (" (DISTRO 'poky' comes from meta-poky, in the poky or meta-yocto repository)"
                 if k.group(2) == "poky" else "")
        return {"what": f"{var} = '{k.group(2)}' is set, but no layer in bblayers.conf has "
                        f"{m.group(1)}{extra}",
                "parse_fix": f"Add the layer that defines {var} '{k.group(2)}' to "
                             f"bblayers.conf (kas: repos/layers), or set {var} to one that "
                             f"exists (ls */conf/{k.group(1)}/)"}
    if m:
        return {"what": f"{where} requires {m.group(1)}, which no layer provides (a "
                        "missing layer, or one of another release)",
                "parse_fix": f"Add the layer that provides {m.group(1)}, or match the "
                             "layer branches to the core's release"}
    return {"what": f"bitbake cannot parse {where}: {msg.strip() or 'syntax error'}",
            "parse_fix": f"Fix the line in {where} (or use the layer branch that matches "
                         "this bitbake)"}


def _f_layerdep(g: dict) -> dict:
    if g.get("kind"):
        return {"what": f"LAYER{g['kind']}_{g['layer2']} in that layer's conf/layer.conf has a "
                        f"syntax error ({g['err'].strip()})",
                "how": "Fix the layer.conf line: names, optionally with a version "
                       "comparison (e.g. \"core (>= 12)\")"}
    detail = (f" at version {g['ver']}, and a different version (or none) is configured: "
              "branches of different releases" if g.get("ver") else
              ", which is not in bblayers.conf")
    return {"what": f"layer '{g['layer']}' (LAYERDEPENDS) needs layer '{g['dep']}'{detail}",
            "how": f"Add the layer with BBFILE_COLLECTIONS '{g['dep']}' to bblayers.conf (kas: "
                   "repos/layers; meta-openembedded layers are meta-oe, meta-python, "
                   "meta-networking...) at the branch of the same release"}


PATTERNS = (
    P("log.parse-error.include", "a required file or class is missing", "error", 2,
      r"(?P<msg>Could not (?:include required|inherit) file \S+|unparsed line: .+)",
      "{what}", "{parse_fix}",
      "Could not include required file conf/distro/poky.conf",
      ("Could not include required file", "Could not inherit file", "unparsed line: "),
      family="log.parse-error",
      fields=_f_parse, phase="parse"),
    P("log.expansion-error", "a variable's expression failed", "error", 3,
      r"Failure expanding variable (?P<var>[^\s,]+)(?:, expression was (?P<expr>.*?))? "
      r"which triggered exception (?P<exc>\w+): ?(?P<msg>.*)",
      "evaluating {var} raised {exc} ({msg}): the expression reads a variable that is unset "
      "or has an unexpected value here (often a layer of another release, a MACHINE/DISTRO "
      "setting missing, or a layer added to BBPATH instead of BBLAYERS)",
      "Find where {var} and the variables its expression reads are set (bitbake-getvar "
      "{var}, or bitbake -e | less), and fix the missing or wrong value",
      "ERROR: ExpansionError during parsing /x/foo.bb\nbb.data_smart.ExpansionError: Failure "
      "expanding variable MACHINE_ARCH, expression was ${@d.getVar('MACHINE').replace('-', "
      "'_')} which triggered exception AttributeError: 'NoneType' object has no attribute "
      "'replace'", ("Failure expanding variable",), phase="parse"),
    P("log.layer-depends", "a layer needs a layer that is not configured", "error", 3,
      r"Layer '(?P<layer>[^']+)' depends on (?:version (?P<ver>\S+) of )?layer '(?P<dep>[^']+)'"
      r"(?P<rest>, but this layer is not enabled|, but version|, which exists)?|"
      r"Error parsing LAYER(?P<kind>DEPENDS|RECOMMENDS)_(?P<layer2>\S+?): (?P<err>.+)",
      "{what}", "{how}",
      "ERROR: Layer 'networking-layer' depends on layer 'meta-python', but this layer is not "
      "enabled in your configuration", ("depends on layer", "depends on version",
                                        "Error parsing LAYER"),
      phase="parse", fields=lambda g, c: _f_layerdep(g)),
    P("log.layer-collections", "two layers share a collection name, or no core layer",
      "error", 3,
      r"Found duplicated BBFILE_COLLECTIONS '(?P<name>[^']+)'|No core layer found to work with "
      r"layer '(?P<layer>[^']+)'|The bblayers\.conf file doesn't contain any BBLAYERS",
      "{what}", "{how}",
      "ERROR: Found duplicated BBFILE_COLLECTIONS 'openembedded-layer', check bblayers.conf "
      "or layer.conf to fix it.", ("duplicated BBFILE_COLLECTIONS", "No core layer found",
                                   "doesn't contain any BBLAYERS"), phase="parse",
      fields=lambda g, c: (
          {"what": f"two layers in bblayers.conf declare BBFILE_COLLECTIONS '{g['name']}' (the "
                   "same layer added twice, e.g. from two checkouts, or a copied layer.conf)",
           "how": "Remove the duplicate from BBLAYERS, or give the copied layer its own "
                  "BBFILE_COLLECTIONS name"} if g.get("name") else
          {"what": f"layer '{g['layer']}' is configured but no core layer (meta of "
                   "openembedded-core/poky) is in bblayers.conf",
           "how": "Add openembedded-core's meta (or poky/meta) to BBLAYERS"} if g.get("layer")
          else {"what": "conf/bblayers.conf sets no BBLAYERS",
                "how": "Regenerate conf/bblayers.conf (kas does; or oe-init-build-env with a "
                       "template)"})),
    P("log.dangling-bbappend", "a bbappend has no recipe", "error", 3,
      r"No recipes (?:in (?P<mc>\S+) )?available for:(?:\s*(?P<append>\S+\.bbappend))?",
      "a layer has a .bbappend ({append}) for a recipe no configured layer provides at that "
      "version: the recipe was upgraded/renamed in this release (the bbappend names the old "
      "version), or the layer that has the recipe is missing",
      "Rename the bbappend to the recipe's current version (or use %: foo_%.bbappend), add "
      "the layer that has the recipe, or use the bbappend's layer branch for this release; "
      "BB_DANGLINGAPPENDS_WARNONLY = \"1\" only hides it",
      "ERROR: No recipes in default available for:\n  /work/meta-x/recipes-core/busybox/"
      "busybox_1.35.0.bbappend", ("No recipes in", "No recipes available for"), phase="parse",
      fields=lambda g, c: {"append": g.get("append") or (c.forward(r"^\s*(\S+\.bbappend)", 2)
                                                         if c else None) or "listed below"}),
    P("log.parse-error", "bitbake could not parse the metadata", "error", 2,
      r"ParseError (?:at (?P<file>[^:\s]+):(?P<lineno>\d+)|in (?P<where>configuration "
      r"INHERITs))?:? (?P<msg>.+)",
      "{what}", "{parse_fix}",
      "ERROR: ParseError at /x/meta-webkit/recipes-qt/qt-wpe-simple-browser/"
      "qt-wpe-simple-browser_0.1.bb:16: Could not inherit file classes/cmake_qt5.bbclass",
      ("ParseError",), fields=_f_parse, phase="parse"),
    P("log.new-override-syntax", "a layer uses ':' overrides on an older bitbake", "error", 3,
      r"ParseError at (?P<file>[^:\s]+):(?P<lineno>\d+): unparsed line: '(?P<line>\s*"
      r"(?:export\s+)?[\w${}/.+-]+:[\w${}:+-]+\s*(?:\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)[^']*)",
      "{file} line {lineno} uses the ':' override syntax ('{short}'), which this bitbake "
      "does not parse: the layer is for honister (3.4) or later, the core is older (or an "
      "un-updated dunfell/hardknott, whose last releases accept ':')",
      "Use the layer branch that matches the core's release (e.g. its dunfell branch), or "
      "update poky/bitbake to the latest point release of its branch",
      "ERROR: ParseError at /src/meta-aws/recipes-sdk/aws-c-io/aws-c-io_0.10.7.bb:24: "
      "unparsed line: 'RDEPENDS:${PN} = \"s2n aws-c-common aws-c-cal\"'",
      ("unparsed line",), phase="parse",
      fields=lambda g, c: {"short": (g.get("line") or "").strip()[:60]}),
    P("log.old-override-syntax", "a layer uses the pre-3.4 override syntax", "error", 3,
      r"Variable (?P<var>\S+)(?: file: (?P<file>\S+) line: \d+)? contains an operation using "
      r"the old override syntax",
      "{var} uses the '_' override syntax of Yocto 3.3 and older; this bitbake (honister "
      "and later) needs ':' (e.g. SRC_URI:append): a layer of an older release is mixed in",
      "Use the layer's branch for this release, or convert it with "
      "scripts/contrib/convert-overrides.py",
      "ERROR: Variable SRC_URI_append contains an operation using the old override syntax. "
      "Please convert this layer/metadata before attempting to use with a newer bitbake.",
      ("old override syntax",), phase="parse"),
    P("log.bbpath", "bitbake cannot find its configuration (BBPATH)", "error", 3,
      r"Unable to find conf/bblayers\.conf or conf/bitbake\.conf|The BBPATH variable is not "
      r"set|Could not (?:include|find) (?:required )?file conf/bitbake\.conf|"
      r"conf/bitbake\.conf not found",
      "bitbake was started outside a build directory (or BBPATH lost the core layer), so "
      "conf/bitbake.conf is not found",
      "cd to the build directory after sourcing oe-init-build-env (or let kas do it); check "
      "that bblayers.conf lists the core layer (meta)",
      "ERROR: Unable to find conf/bblayers.conf or conf/bitbake.conf. BBPATH is unset and/or "
      "not in a build directory?", ("conf/bitbake.conf", "BBPATH variable is not set"),
      phase="parse"),
    P("log.layer-incompatible", "a layer is for another release", "error", 3,
      r"Layer (?P<layer>\S+) is not compatible with the core layer which only supports these "
      r"series: (?P<core>[^(]+?) \(layer is compatible with (?P<theirs>[^)]*)\)",
      "layer {layer} is for '{theirs}' but the core layer is '{core}' (branches of "
      "different releases mixed)", "Check out the {core} branch of layer {layer} (or the "
      "core release the layer supports)",
      "ERROR: Layer armvm is not compatible with the core layer which only supports these "
      "series: scarthgap (layer is compatible with kirkstone)",
      ("is not compatible with the core layer",), check="checkout.layerseries", phase="parse"),
    P("log.layer-dirs-missing", "bblayers.conf names missing layers", "error", 3,
      r"The following layer directories do not exist:|Unable to parse (?P<path>\S+/conf/"
      r"layer\.conf): \[Errno 2\]|file (?P<path2>\S+/conf/layer\.conf) not found",
      "a layer in bblayers.conf is not there ({path}): a moved checkout, a failed clone or a "
      "typo in BBLAYERS", "Fix BBLAYERS (bitbake-layers show-layers) or clone the layer; kas "
      "regenerates bblayers.conf from its config",
      "ERROR: The following layer directories do not exist:\nERROR:    /work/meta-foo\n"
      "ERROR: Please check BBLAYERS in /work/build/conf/bblayers.conf",
      ("layer directories do not exist", "/conf/layer.conf"), check="build.bblayers-missing",
      phase="parse", defaults={"path": "listed below it"},
      fields=lambda g, c: {"path": g.get("path") or g.get("path2") or "listed below it"}),
    P("log.nothing-provides", "a build dependency has no provider", "error", 3,
      r"Nothing PROVIDES '(?P<name>[^']+)'(?: \(but (?P<by>[^,)\s]+))?",
      "no recipe in the configured layers provides '{name}' (needed by {by}): a layer is "
      "missing from bblayers.conf, the recipe was renamed in this release, or it was skipped "
      "for this MACHINE/DISTRO_FEATURES (bitbake prints the skip reason)",
      "Add the layer that provides '{name}' (bitbake-layers show-recipes; "
      "layers.openembedded.org) or fix the skip reason",
      "ERROR: Nothing PROVIDES 'python3-foo' (but /work/meta-armvm/recipes-core/images/"
      "armvm-image.bb DEPENDS on or otherwise requires it). Close matches:",
      (" PROVIDES '",), phase="parse", defaults={"by": "the target"},
      fields=lambda g, c: {"by": g.get("by") or "the target"}),
    P("log.nothing-rprovides", "a runtime dependency has no provider", "error", 3,
      r"Nothing RPROVIDES '(?P<name>[^']+)'(?: \(but (?P<by>[^,)\s]+))?",
      "no package in the configured layers provides '{name}' at runtime (required by "
      "{by}): the layer with that recipe is missing, the package is named differently in "
      "this release, or its recipe was skipped for this MACHINE/DISTRO_FEATURES",
      "Find the recipe (bitbake-layers show-recipes; layers.openembedded.org) and add its "
      "layer, or drop/rename '{name}' in {by}",
      "ERROR: Nothing RPROVIDES 'luaposix33' (but /x/obmc-phosphor-image.bb RDEPENDS on or "
      "otherwise requires it)", ("RPROVIDES '",), phase="parse",
      defaults={"by": "an image or package"},
      fields=lambda g, c: {"by": g.get("by") or "an image or package"}),
    P("log.no-buildable-provider", "a build target cannot be built", "error", 1,
      r"Required build target '(?P<target>[^']+)' has no buildable providers",
      "'{target}' cannot be built because one of its dependencies has no provider (named "
      "above this line)", "Fix the missing provider reported above",
      "ERROR: Required build target 'obmc-phosphor-image' has no buildable providers.",
      ("has no buildable providers",), cascade=True, phase="parse"),
)

_P = "lib/bb/parse/parse_py/"
SOURCES = {
    "log.parse-error": (S("bitbake", _P + "ConfHandler.py", "unparsed line: '%s'",
                          "ParseError at /x/local.conf:3: unparsed line: 'FOO BAR'"),
                        S("bitbake", _P + "BBHandler.py", "Unparsed lines %s: %s",
                          "ParseError at /x/foo.bb:3: Unparsed lines foo: bar")),
    "log.parse-error.include": (
        S("bitbake", _P + "ConfHandler.py", "Could not %s file %s",
          "Could not include required file conf/distro/poky.conf"),
        S("bitbake", _P + "BBHandler.py", "Could not inherit file %s",
          "Could not inherit file classes/foo.bbclass")),
    "log.expansion-error": (S("bitbake", "lib/bb/data_smart.py",
                              "Failure expanding variable %s, expression was %s which "
                              "triggered exception %s: %s"),),
    "log.old-override-syntax": (S("bitbake", "lib/bb/data_smart.py",
                                  "Variable %s contains an operation using the old override "
                                  "syntax. Please convert this layer/metadata before "
                                  "attempting to use with a newer bitbake."),),
    "log.bbpath": (S("bitbake", "lib/bb/main.py", "Unable to find conf/bblayers.conf or "
                     "conf/bitbake.conf. BBPATH is unset and/or not in a build directory?"),),
    "log.layer-incompatible": (S("bitbake", "lib/bb/cookerdata.py",
                                 "Layer %s is not compatible with the core layer which only "
                                 "supports these series: %s (layer is compatible with %s)"),),
    "log.layer-dirs-missing": (S("bitbake", "lib/bb/cookerdata.py",
                                 "The following layer directories do not exist:"),),
    "log.layer-depends": (
        S("bitbake", "lib/bb/cooker.py", "Layer '%s' depends on layer '%s', but this layer is "
          "not enabled in your configuration"),
        S("bitbake", "lib/bb/cooker.py", "Layer '%s' depends on version %s of layer '%s', but "
          "version %s is currently enabled in your configuration. Check that you are using the "
          "correct matching versions/branches of these two layers.")),
    "log.layer-collections": (
        S("bitbake", "lib/bb/cookerdata.py", "Found duplicated BBFILE_COLLECTIONS '%s', check "
          "bblayers.conf or layer.conf to fix it."),
        S("bitbake", "lib/bb/cookerdata.py", "No core layer found to work with layer '%s'. "
          "Missing entry in bblayers.conf?"),
        S("bitbake", "lib/bb/cookerdata.py", "The bblayers.conf file doesn't contain any "
          "BBLAYERS definition")),
    "log.dangling-bbappend": (S("bitbake", "lib/bb/cooker.py",
                                "No recipes in %s available for:\n  %s",
                                "No recipes in default available for:\n  /x/foo_1.0.bbappend"),),
    "log.nothing-provides": (S("bitbake", "lib/bb/event.py",
                               "Nothing %sPROVIDES '%s' (but %s %sDEPENDS on or otherwise "
                               "requires it)%s",
                               "Nothing PROVIDES 'foo' (but /x/img.bb DEPENDS on or otherwise "
                               "requires it)"),),
    "log.nothing-rprovides": (S("bitbake", "lib/bb/event.py",
                                "Nothing %sPROVIDES '%s' (but %s %sDEPENDS on or otherwise "
                                "requires it)%s",
                                "Nothing RPROVIDES 'foo' (but /x/img.bb RDEPENDS on or "
                                "otherwise requires it)"),),
    "log.no-buildable-provider": (S("bitbake", "lib/bb/taskdata.py",
                                    "Required build target '%s' has no buildable providers."),),
    "log.new-override-syntax": (S("bitbake", _P + "ConfHandler.py", "unparsed line: '%s'",
                                  "ParseError at /x/foo.bb:24: unparsed line: "
                                  "'RDEPENDS:${PN} = \"foo\"'"),),
}

PATTERNS = attach(PATTERNS, SOURCES)
