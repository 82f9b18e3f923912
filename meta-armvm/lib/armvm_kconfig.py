# SPDX-License-Identifier: MIT
"""Checking logic for do_armvm_kconfig_audit (classes/armvm-kconfig-audit.bbclass).

Pure Python with no bitbake imports, so it can be unit-tested outside a build
(tests/layer/test_kconfig_audit.py) and reused by the kconfig resolution test.
The required list comes from recipes-kernel/linux/files/armvm-required-<arch>.list,
generated from armvm_oe/requirements.py by scripts/gen-kernel-fragments.
"""

import re

_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")


def parse_config(text):
    """Map option name (no CONFIG_ prefix) -> value ('y', 'm', 'n', string).

    '# CONFIG_X is not set' reads as 'n'; options absent from the file are
    absent from the map (their dependencies were not met)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        m = _SET.match(line)
        if m:
            values[m.group(1)] = m.group(2).strip('"')
            continue
        m = _UNSET.match(line)
        if m:
            values[m.group(1)] = "n"
    return values


_HEADER = re.compile(r"^# Linux/\S+ (\d+\.\d+(?:\.\d+)?)\S* Kernel Configuration$", re.M)


def version_key(version):
    """'6.6.57' -> (6, 6, 57); '6.12' -> (6, 12)."""
    return tuple(int(x) for x in version.split("-")[0].split(".")[:3] if x.isdigit())


def kernel_version(config_text):
    """The kernel version a .config was made for (its header line), or None."""
    m = _HEADER.search(config_text)
    return m.group(1) if m else None


def _applies(bounds, version):
    """since=X / until=Y tokens of a list line against ``version``."""
    if version is None:
        return True
    v = version_key(version)
    for token in bounds:
        key, _, bound = token.partition("=")
        if key == "since" and v < version_key(bound):
            return False
        if key == "until" and v >= version_key(bound):
            return False
    return True


def parse_required(text, version=None):
    """Read an armvm-required-<arch>.list: [(name, [ids])] in file order.

    A line's optional third column bounds the kernel versions the option
    exists in (since=X, until=Y); with ``version`` given, options that
    kernel does not have are left out (they are no requirement there)."""
    required = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        name = fields[0]
        if name.startswith("CONFIG_"):
            name = name[len("CONFIG_"):]
        ids = fields[1].split(",") if len(fields) > 1 else []
        if _applies(fields[2:], version):
            required.append((name, ids))
    return required


def missing_options(required, config):
    """[(name, ids, found)] for every required option that is not =y.

    ``found`` is the value in .config, or None when the option is absent."""
    out = []
    for name, ids in required:
        found = config.get(name)
        if found != "y":
            out.append((name, ids, found))
    return out


def describe(found):
    if found is None:
        return "absent (a dependency is not met)"
    if found == "n":
        return "is not set"
    return "=%s" % found


def report(missing, arch=""):
    """One human-readable paragraph plus one line per missing option."""
    if not missing:
        return ""
    head = ("%d required kernel option(s) did not survive configuration%s "
            "(ARM VM System Specification, meta-armvm):"
            % (len(missing), " for %s" % arch if arch else ""))
    lines = [head]
    for name, ids, found in missing:
        lines.append("  CONFIG_%s %s [%s]" % (name, describe(found), ", ".join(ids) or "?"))
    lines.append("Fix: meta-armvm's armvm-guest-<arch>.cfg is the last fragment of the merge, "
                 "so Kconfig dropped the option: a dependency is off. Find it with "
                 "'bitbake -c menuconfig virtual/kernel' or do_kernel_configcheck's output and "
                 "turn it on in a KERNEL_FEATURES fragment (or in the layer's support options, "
                 "armvm_oe/requirements.py + scripts/gen-kernel-fragments).")
    return "\n".join(lines)


def audit(config_text, required_text, arch="", version=None):
    """Return the report text ('' when everything required is =y).

    ``version``: the kernel version (default: the .config's header line);
    options outside their version bounds are not required."""
    version = version or kernel_version(config_text)
    return report(missing_options(parse_required(required_text, version),
                                  parse_config(config_text)), arch)
