"""The failure families ``doctor --log`` knows, as data, one module per
source that prints the messages:

==================  ===============================================================
``bitbake_fetch2``  bitbake lib/bb/fetch2 (FetchError and its kin, checksums,
                    BB_NO_NETWORK / BB_ALLOWED_NETWORKS, missing parameters)
``bitbake_cooker``  bitbake's parser and cooker (ParseError, ExpansionError,
                    includes, layers, providers, bbappends)
``bitbake_runtime`` bitbake's runqueue, server, lock, hash equivalence, disk monitor
``oecore_sanity``   oe-core sanity.bbclass (+ base.bbclass HOSTTOOLS)
``oecore_insane``   oe-core insane.bbclass: every QA check, with its usual fix
``oecore_image``    oe-core at do_rootfs/do_image: rpm/dnf/opkg/apt, image size,
                    wic, sysroot/sstate conflicts, uninative
``oecore_patch``    oe-core's patch machinery at do_patch (lib/oe/patch.py,
                    patch.bbclass) and what quilt / GNU patch print under it
``pseudo``          pseudo (the fakeroot of do_install/do_package/do_rootfs)
``kas``             kas and kas-container
``host_*``          tools whose messages bitbake only relays: git, the shell,
                    the compiler/linker/kernel, docker
==================  ===============================================================

Each :class:`Pattern` names a *family* (the finding id users see, e.g.
``log.checksum-mismatch``) and the source messages it covers
(:class:`Src`); tests/doctor/test_catalogue_sources.py reads those sources
at the supported versions and fails when a message has no family or a
family's regex no longer matches what its source prints.

**Tie rule.** When several patterns match the same line (or block), the one
with the highest ``tier`` wins; within a tier the one whose match covers
more characters wins. Tiers: 3 names the root cause, 2 the failing step, 1
a symptom that follows from an earlier cause (a *cascade*).
"""

from __future__ import annotations

import re

from armvm_oe.doctor.logcatalogue import (bitbake_cooker, bitbake_fetch2, bitbake_runtime,
                                       host_containers, host_git, host_shell, host_toolchain,
                                       kas, oecore_image, oecore_insane, oecore_patch,
                                       oecore_sanity, pseudo)
from armvm_oe.doctor.logcatalogue._base import Pattern, Src

__all__ = ["Pattern", "Src", "PATTERNS", "MODULES", "BENIGN", "GENERIC_ERROR"]

MODULES = (bitbake_fetch2, bitbake_cooker, bitbake_runtime, oecore_sanity, oecore_insane,
           oecore_image, oecore_patch, pseudo, kas, host_git, host_shell, host_toolchain, host_containers)

PATTERNS: tuple = tuple(p for m in MODULES for p in m.PATTERNS)

# Lines that look like errors but are not: kas logs git's progress (written
# to stderr) at ERROR level ("From https://...", "abc..def  main -> origin/main").
BENIGN = re.compile(r"^(?:From (?:https?|git|ssh)://\S+$|Cloning into '|HEAD is now at |"
                    r"remote: |Receiving objects: |Resolving deltas: |Updating files: |"
                    r"Already on '|Switched to (?:a new )?branch |Your branch is up to date|"
                    r"Note: switching to |Submodule path '[^']*': checked out|[+ ]?\s*[0-9a-f]{7,}\.\.\.?[0-9a-f]{7,}"
                    r"\s+\S+\s+->\s+\S+|\* \[new (?:branch|tag)\]\s+\S+\s+->|"
                    r"\* branch\s+\S+\s+->\s+FETCH_HEAD)")

# The first error line when no pattern recognises anything (never 'ok' on a
# failed build): bitbake/kas levels, git/shell conventions, a non-zero exit,
# and the unprefixed texts a pasted excerpt shows (a compiler's 'fatal
# error:', 'Could not include', pseudo's 'couldn't bind' / 'aborting').
GENERIC_ERROR = re.compile(
    r"^(?:fatal|error|Error|FATAL|ERROR|E)\s*[:;]|\bfailed with (?:exit code '?[1-9]|error)|"
    r"Summary: There (?:was|were) \d+ ERROR|^make(?:\[\d+\])?: \*\*\* .*Error \d+|"
    r"\bcommand failed\b|Traceback \(most recent call last\)|^\S*Error: |"
    r"(?:^|: )(?:fatal )?error: |\bCould not (?:include|inherit|find|invoke)\b|"
    r"\bcouldn't bind\b|\baborting\b|\bundefined reference to\b|\bmultiple definition of [`']|\bld returned \d+ exit status|"
    r"\bSegmentation fault\b|\bKilled\b.*\b(?:signal|program)\b|: No such file or directory$")
