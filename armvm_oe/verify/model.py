"""Findings, the report, and the JSON schema of ``armvm-oe verify --json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from armvm_oe import requirements

RESULTS = ("pass", "warn", "unknown", "fail")
_RANK = {"pass": 0, "unknown": 1, "warn": 2, "fail": 3}
SCHEMA_VERSION = 1


def worst(results) -> str:
    rs = list(results)
    return max(rs, key=_RANK.__getitem__) if rs else "unknown"


def bad_result(req_id: str) -> str:
    """What a violated requirement gives: fail for "must", warn for "should"."""
    return "fail" if requirements.get(req_id).level == requirements.MUST else "warn"


@dataclass
class Finding:
    id: str                    # requirement id (armvm_oe.requirements)
    check: str                 # the check that produced it (stable name)
    result: str                # pass | fail | warn | unknown
    reason: str
    fix: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"bad result {self.result!r}")
        requirements.get(self.id)          # KeyError on an id not in the table

    @property
    def requirement(self) -> requirements.Requirement:
        return requirements.get(self.id)

    def as_dict(self) -> dict:
        r = self.requirement
        return {"id": self.id, "section": r.section, "level": r.level, "check": self.check,
                "result": self.result, "reason": self.reason, "fix": self.fix,
                "details": self.details}


@dataclass
class Report:
    image: dict[str, Any]
    arch: str | None
    arch_source: str | None
    kernel: dict[str, Any]
    findings: list[Finding]
    stats: dict[str, Any]
    strict: bool = False        # --strict: an "unknown" fails like a "fail"

    @property
    def compliant(self) -> bool:
        bad = ("fail", "unknown") if self.strict else ("fail",)
        return not any(f.result in bad for f in self.findings)

    @property
    def unknown(self) -> int:
        return sum(1 for f in self.findings if f.result == "unknown")

    def verdict(self) -> str:
        """COMPLIANT only when everything was checked; "compliant as far as
        checked (N unknown)" otherwise, so a CI gate is not misled."""
        if not self.compliant:
            if self.strict and not any(f.result == "fail" for f in self.findings):
                return f"NOT COMPLIANT (--strict: {self.unknown} unknown)"
            return "NOT COMPLIANT"
        if self.unknown:
            return f"compliant as far as checked ({self.unknown} unknown)"
        return "COMPLIANT"

    @property
    def exit_code(self) -> int:
        return 0 if self.compliant else 1

    def summary(self) -> dict[str, int]:
        out = {r: 0 for r in RESULTS}
        for f in self.findings:
            out[f.result] += 1
        return out

    def by_requirement(self) -> list[dict]:
        out = []
        for r in requirements.REQUIREMENTS:
            fs = [f for f in self.findings if f.id == r.id]
            if fs:
                out.append({"id": r.id, "section": r.section, "level": r.level,
                            "title": r.title, "result": worst(f.result for f in fs)})
        return out

    def find(self, req_id: str, check: str | None = None) -> list[Finding]:
        return [f for f in self.findings if f.id == req_id and (check is None or f.check == check)]

    def result(self, req_id: str) -> str | None:
        fs = self.find(req_id)
        return worst(f.result for f in fs) if fs else None

    def as_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "tool": "armvm-oe verify",
                "image": self.image, "arch": self.arch, "arch_source": self.arch_source,
                "kernel": self.kernel, "compliant": self.compliant, "strict": self.strict,
                "verdict": self.verdict(),
                "exit_code": self.exit_code, "summary": self.summary(),
                "requirements": self.by_requirement(),
                "findings": [f.as_dict() for f in self.findings], "stats": self.stats}


_RESULT = {"enum": list(RESULTS)}
_NSTR = {"type": ["string", "null"]}

SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://armvm-oe.invalid/schemas/verify-report-1.json",
    "title": "armvm-oe verify report",
    "type": "object",
    "required": ["schema_version", "tool", "image", "arch", "arch_source", "kernel",
                 "compliant", "exit_code", "summary", "requirements", "findings", "stats"],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "tool": {"const": "armvm-oe verify"},
        "image": {
            "type": "object", "required": ["path", "format", "size", "partitions"],
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string"},
                "format": {"enum": ["raw", "gzip", "bzip2", "zstd", "xz", "qcow2",
                                            "vmdk", "vhd", "vhdx", "ova"]},
                "size": {"type": "integer", "minimum": 0},
                "esp": {"type": ["integer", "null"]},
                "partitions": {"type": "array", "items": {
                    "type": "object",
                    "required": ["number", "type_guid", "type", "partuuid", "first_lba",
                                 "last_lba", "name"],
                    "properties": {"number": {"type": "integer"}, "type_guid": {"type": "string"},
                                   "type": {"type": "string"}, "partuuid": {"type": "string"},
                                   "first_lba": {"type": "integer"},
                                   "last_lba": {"type": "integer"}, "name": {"type": "string"}}}},
            }},
        "arch": {"enum": ["aarch64", "arm", None]},
        "arch_source": {"enum": ["option", "efi-binary", "kernel", None]},
        "kernel": {
            "type": "object", "required": ["path", "release", "config_source"],
            "properties": {"path": _NSTR, "release": _NSTR, "compression": _NSTR,
                           "config_source": _NSTR}},
        "compliant": {"type": "boolean"},
        "strict": {"type": "boolean"},
        "verdict": {"type": "string"},
        "exit_code": {"enum": [0, 1]},
        "summary": {"type": "object", "required": list(RESULTS), "additionalProperties": False,
                    "properties": {r: {"type": "integer", "minimum": 0} for r in RESULTS}},
        "requirements": {"type": "array", "items": {
            "type": "object", "required": ["id", "section", "level", "title", "result"],
            "additionalProperties": False,
            "properties": {"id": {"type": "string"}, "section": {"type": "string"},
                           "level": {"enum": ["must", "should"]}, "title": {"type": "string"},
                           "result": _RESULT}}},
        "findings": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "section", "level", "check", "result", "reason", "fix", "details"],
            "additionalProperties": False,
            "properties": {"id": {"type": "string", "pattern": "^[A-Z0-9]+(-[A-Z0-9]+)+$"},
                           "section": {"type": "string"}, "level": {"enum": ["must", "should"]},
                           "check": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                           "result": _RESULT, "reason": {"type": "string", "minLength": 1},
                           "fix": {"type": "string"}, "details": {"type": "object"}}}},
        "stats": {"type": "object", "required": ["seconds", "bytes_read", "image_size"],
                  "properties": {"seconds": {"type": "number", "minimum": 0},
                                 "bytes_read": {"type": "integer", "minimum": 0},
                                 "image_size": {"type": "integer", "minimum": 0},
                                 "read_fraction": {"type": "number", "minimum": 0}}},
    },
}
