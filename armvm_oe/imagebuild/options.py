"""What a build is asked to do (:class:`BuildOptions`), what it returns
(:class:`BuildOutcome`) and its two error classes: shared by every step."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from armvm_oe.errors import ArmvmError, ProblemFound
from armvm_oe.imagebuild.scaleout import ScaleOut

ARCHES = ("aarch64", "arm")
LOG_DIR = "armvm-oe-logs"


@dataclass
class BuildOptions:
    config: Optional[str] = None        # kas config(s), ':'-separated
    arch: Optional[str] = None
    work_dir: Optional[Path] = None
    mode: str = "auto"                  # auto | container | host
    dl_dir: Optional[Path] = None
    sstate_dir: Optional[Path] = None
    scaleout: ScaleOut = field(default_factory=ScaleOut)
    mirror_dirs: list = field(default_factory=list)
    force_checkout: bool = False
    skip_checks: set = field(default_factory=set)
    verify: bool = True
    check: bool = False                 # --check: stop before the first task
    ssh_agent: bool = False
    allow_root: bool = False            # --allow-root / ARMVM_ALLOW_ROOT=1 (asroot.py)
    avh_device: Optional[str] = None
    avh_dtb: Optional[str] = None
    avh_device_defs: list = field(default_factory=list)
    avh_version: Optional[str] = None
    verbose: int = 0
    log_tail: int = 40
    stop_grace: float = 30.0
    # every build message may quote the build log or a kas file: ui.echo
    # escapes it (a ui.Safe part, a badge, keeps its colour)
    say: Callable[[str], None] = field(default=lambda m: _echo_err(m))


@dataclass
class BuildOutcome:
    report: dict
    exit_code: int
    error: Optional[ArmvmError] = None
    report_path: Optional[Path] = None


class PreflightFailed(ProblemFound):
    pass


class BuildFailed(ProblemFound):
    pass


def _echo_err(message) -> None:
    from armvm_oe import ui
    ui.echo(message, file=sys.stderr)
