"""armvm-oe doctor: diagnose broken Yocto build environments before and after
a build.

Stable interfaces (documented in docs/doctor.md):

- ``run_checks(context) -> list[Result]``: the preflight. Returns only what
  fired, worst first; stop on ``[r for r in results if r.fatal]``.
- ``Context`` (groups, kas_config, work_dir, build_dir, host_root, thresholds...).
- ``armvm_oe.doctor.logscan.scan(text, log_path=, build_dir=) -> Diagnosis``:
  after a failed build; the phase, the first real cause first (with its
  evidence chain), cascade symptoms after it; ``diagnose(text)`` returns just
  the findings.
- ``catalogue()``: every check (id, group, title, severity, error_text, fix).

Check ids are dotted, ``<group>.<name>``; the container ids are shared with
``ArmvmError(check_id=...)`` raised by armvm_oe.container.
"""

from armvm_oe.doctor.model import (GROUPS, RANK, SEVERITIES, Check, Context, Problem,
                                   Result, Thresholds)
from armvm_oe.doctor.registry import catalogue, run_checks

__all__ = ["GROUPS", "RANK", "SEVERITIES", "Check", "Context", "Problem", "Result",
           "Thresholds", "catalogue", "run_checks"]
