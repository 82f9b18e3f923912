"""SARIF 2.1.0 for ``doctor --log --format sarif``, so CI systems that read
SARIF (GitHub code scanning, GitLab, Azure DevOps) show the first cause on
the log line. One rule per finding family, one result per finding; the
task-log evidence goes in ``relatedLocations``."""

from __future__ import annotations

from armvm_oe import __version__

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warn": "warning"}


def _location(source: str, line_no: int, line: str) -> dict:
    region = {"startLine": max(1, int(line_no or 1))}
    if line:
        region["snippet"] = {"text": line}
    return {"physicalLocation": {"artifactLocation": {"uri": source.replace("\\", "/")},
                                 "region": region}}


def to_sarif(diag) -> dict:
    rules, index = [], {}
    results = []
    for i, f in enumerate(diag.findings):
        if f.id not in index:
            index[f.id] = len(rules)
            rules.append({"id": f.id, "name": f.id.replace("log.", "").replace("-", " "),
                          "shortDescription": {"text": f.title},
                          "help": {"text": f.fix}})
        ev = f.evidence or [{"source": diag.source, "line_no": f.line_no, "line": f.line}]
        res = {"ruleId": f.id, "ruleIndex": index[f.id],
               "level": "note" if f.cascade else _LEVEL.get(f.severity, "warning"),
               "message": {"text": f"{f.cause}. Fix: {f.fix}"},
               "locations": [_location(ev[0]["source"], ev[0]["line_no"], ev[0]["line"])],
               "properties": {"phase": f.phase, "firstCause": i == 0, "cascade": f.cascade,
                              "pattern": f.pattern}}
        if len(ev) > 1:
            res["relatedLocations"] = [dict(_location(e["source"], e["line_no"], e["line"]),
                                            id=k, message={"text": "evidence"})
                                       for k, e in enumerate(ev[1:], 1)]
        results.append(res)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "armvm-oe doctor", "version": __version__,
                                          "rules": rules}},
                      "invocations": [{"executionSuccessful": True}],
                      "results": results}]}
