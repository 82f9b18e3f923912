"""The shape of the catalogue's data: :class:`Pattern` (one variant of a
failure family) and :class:`Src` (a message the family covers, named by
the source file that prints it). Shared template helpers live here too."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass(frozen=True)
class Src:
    """A message a family covers, where it is printed. ``repo`` is one of
    ``bitbake``, ``oe-core``, ``kas`` (read from the fetched mirrors /
    the installed kas by tests/doctor/test_catalogue_sources.py), ``pseudo``
    or ``host`` (tools whose source is not read: git, gcc, docker...).
    ``message`` is the text as written in the source (``%s``, ``{}`` and
    ``%(name)s`` are placeholders); ``sample`` is the message as printed,
    when the placeholders need particular values for the pattern. ``ref``
    names the older release (a tag of the mirror) whose wording users still
    post, for a message the supported releases no longer print; the source
    test reads it there."""

    repo: str
    path: str
    message: str
    sample: str = ""
    ref: str = ""


@dataclass(frozen=True)
class Pattern:
    id: str
    title: str
    severity: str           # error / warn
    tier: int               # 3 cause, 2 failing step, 1 symptom (see the tie rule)
    regex: str
    cause: str              # template: {group} / {field}
    fix: str                # template
    example: str            # a real error text this pattern matches
    keys: tuple             # literal substrings one of which every match contains
    family: str = ""        # the finding id (default: the id)
    cascade: bool = False   # a consequence of an earlier failure
    check: Optional[str] = None    # the doctor check that finds it before a build
    phase: Optional[str] = None    # where it happens when the log has no markers
    defaults: dict = field(default_factory=dict, compare=False, hash=False)
    fields: Optional[Callable] = field(default=None, compare=False, hash=False, repr=False)
    sources: tuple = field(default=(), compare=False, hash=False, repr=False)
    # literals that find the candidate lines when ``keys`` are too many to
    # search a 100k-line log for each (blocks are still tried with ``keys``)
    gate: tuple = ()
    # the message only wraps another error printed below it (bitbake's "Unable
    # to start bitbake server" over the server's own log): any other cause
    # found in the log comes first
    wrapper: bool = False

    @property
    def fid(self) -> str:
        return self.family or self.id

    def as_dict(self) -> dict:
        return {"id": self.id, "family": self.fid, "title": self.title,
                "severity": self.severity, "tier": self.tier, "regex": self.regex,
                "cause": self.cause, "fix": self.fix, "example": self.example,
                "cascade": self.cascade, "check": self.check, "phase": self.phase,
                "sources": [f"{s.repo}:{s.path}: {s.message}" for s in self.sources]}


P = Pattern
S = Src


def scheme_advice(url: str) -> dict:
    """Advice that fits the URL's transport: git:// uses port 9418 and ignores
    http(s)_proxy; https goes through the proxy and fails on TLS/timeouts."""
    u = url or ""
    if u.startswith("git://") and "protocol=https" not in u and "protocol=http" not in u:
        host = u[6:].split("/", 1)[0]
        return {"transport": f"git:// (port 9418, which ignores http(s)_proxy) to {host}",
                "net_fix": "use https: in a recipe add ;protocol=https to the SRC_URI, or "
                           "git config --global url.\"https://\".insteadOf git:// "
                           "(git.yoctoproject.org needs the /git/ path); GitHub and "
                           "git.yoctoproject.org no longer serve git://"}
    if u.startswith(("ssh://", "git@")):
        return {"transport": "ssh", "net_fix": "check the SSH key/agent (kas-container "
                "--ssh-dir / SSH_AUTH_SOCK) and that the host is reachable on port 22"}
    if u.startswith(("http://", "https://")) or "protocol=https" in u:
        host = re.sub(r"^\w+://", "", u).split("/", 1)[0]
        return {"transport": f"https to {host}",
                "net_fix": "check the proxy (https_proxy/no_proxy must reach bitbake: kas "
                           "passes them, plain docker run needs -e) and retry; timeouts and "
                           "TLS errors are the network or the proxy, not the URL"}
    return {"transport": "the network", "net_fix": "check the URL, the network and the "
            "proxy (http(s)_proxy)"}


def attach(patterns: tuple, sources: dict) -> tuple:
    """The patterns with their source messages (``{pattern id: (Src, ...)}``)."""
    from dataclasses import replace
    unknown = set(sources) - {p.id for p in patterns}
    assert not unknown, unknown
    return tuple(replace(p, sources=p.sources + tuple(sources.get(p.id, ())))
                 for p in patterns)
