"""Pinned, kas-compatible checkout of the repositories of a kas project.

Split by concern: :mod:`.common` (kas naming, git helpers, progress),
:mod:`.checkout` (the include loop, new clones, fetching), :mod:`.update`
(moving an existing tree, crash-safe), :mod:`.recovery` (what a killed run
leaves), :mod:`.patches` (kas's ``patches:``), :mod:`.status` and
:mod:`.lock`. The names below are the public API (doctor and build use them).
"""

from armvm_oe.gitcheckout.checkout import Checkout, unsupported  # noqa: F401
from armvm_oe.gitcheckout.common import (  # noqa: F401
    LOCKSUFFIX, PARTIAL, RepoResult, _human, dirty_files, effective_url, find_mirror,
    partial_dirs, qualified_name, read_head)
from armvm_oe.gitcheckout.lock import LockChange, lock, remote_commit  # noqa: F401
from armvm_oe.gitcheckout.status import RepoStatus, status  # noqa: F401

__all__ = ["Checkout", "unsupported", "LOCKSUFFIX", "PARTIAL", "RepoResult", "_human",
           "dirty_files", "effective_url", "find_mirror", "partial_dirs", "qualified_name",
           "read_head", "LockChange", "lock", "remote_commit", "RepoStatus", "status"]
