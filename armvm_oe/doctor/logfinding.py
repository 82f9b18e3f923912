"""What ``doctor --log`` returns: a :class:`Finding` per failure family
found, in a :class:`Diagnosis` (the first real cause first)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

UNRECOGNISED = "log.unrecognised"


@dataclass
class Finding:
    id: str                 # the family: log.checksum-mismatch
    title: str
    severity: str
    line_no: int            # 1-based line in the scanned log
    line: str               # that line, normalised
    cause: str
    fix: str
    cascade: bool = False
    check: Optional[str] = None
    phase: str = "unknown"
    pattern: Optional[str] = None     # the variant that matched
    tier: int = 0
    evidence: list = field(default_factory=list)   # [{source, line_no, line}] log -> task log

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Diagnosis:
    source: str
    findings: list
    phase: str                  # where the build stopped (phase of the first cause)
    lines: int
    task_logs: list = field(default_factory=list)   # [{logfile, resolved, read}]
    reports: list = field(default_factory=list)     # error-report files read
    ties: list = field(default_factory=list)        # [(line_no, [pattern ids])]: should stay empty

    @property
    def first(self) -> Optional[Finding]:
        return self.findings[0] if self.findings else None

    @property
    def failed(self) -> bool:
        """An error was found (warnings alone: the build went on)."""
        return any(f.severity == "error" for f in self.findings)
