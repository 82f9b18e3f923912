"""Step 4: after kas returns. On failure, the log diagnosis; on success, the
deploy artifacts, the verify step and the optional AVH package. Either way
``build-report.json``."""

from __future__ import annotations

import datetime as _dt
import sys
import time
from pathlib import Path
from typing import Optional

from armvm_oe import ui
from armvm_oe.errors import ArmvmError, ProblemFound, UsageError
from armvm_oe.imagebuild import report as rpt
from armvm_oe.imagebuild.hostrun import LineSink
from armvm_oe.imagebuild.incontainer import hand_over
from armvm_oe.imagebuild.buildlog import sanity_findings, task_errors
from armvm_oe.imagebuild.options import BuildFailed, BuildOptions, BuildOutcome


def post_build(opts: BuildOptions, project, build_dir: Path, base: dict, versions: dict,
               sink: LineSink, arch: Optional[str], t0: float,
               owner: Optional[tuple[int, int]] = None) -> BuildOutcome:
    """After kas succeeded. Any step that fails (no image, verify failing or
    crashing, the AVH package) makes the build ``failed``, exit 1, with the
    step named in the report's ``failure``: a build is only ``succeeded`` when
    everything it was asked to do was done."""
    say = opts.say
    error, step = None, None
    deploy = rpt.find_deploy_dir(build_dir, project.machine)
    base["deploy_dir"] = str(deploy) if deploy else None
    artifacts = rpt.collect(deploy) if deploy else []
    base["artifacts"] = [a.as_dict() for a in artifacts]
    target = project.target[0] if project.target else None
    wic = rpt.pick_wic(artifacts, target, project.machine)
    base["wic"] = wic
    if not wic:
        step = "artifacts"
        error = BuildFailed("The build succeeded but left no .wic image in "
                            f"{deploy or build_dir}",
                            "the target should deploy <image>-<machine>.rootfs.wic",
                            "Check IMAGE_FSTYPES (meta-armvm sets wic) and the target")
    elif opts.verify:
        say(f"build: verifying {wic}")
        from armvm_oe.imagebuild.verifyhook import run_verify
        base["verify"] = run_verify(Path(wic), arch)
        status = base["verify"]["status"]
        if status == "failed":
            step = "verify"
            error = ProblemFound(f"The built image {wic} does not pass 'armvm-oe verify'",
                                 "failed requirement(s): "
                                 + ", ".join(base["verify"]["failed"] or ["?"]),
                                 f"Run 'armvm-oe verify {wic}' for the details")
        elif status == "error":
            step = "verify"
            error = BuildFailed(f"The verify step could not check the built image {wic}",
                                base["verify"]["summary"] or "verify stopped with an error",
                                f"Run 'armvm-oe verify {wic} --debug' to see why, or build "
                                "with --no-verify")
    else:
        base["verify"] = {"status": "skipped"}
    if opts.avh_device and wic and error is None:
        try:
            base["avh"] = make_avh(opts, artifacts, wic, build_dir, project, target)
            hand_over(owner, Path(base["avh"]["path"]))
            if not base["avh"]["check_ok"]:
                step = "avh"
                error = BuildFailed(f"The AVH package {base['avh']['path']} is not valid",
                                    "; ".join(p.get("message", str(p))
                                              for p in base["avh"]["problems"][:3]) or "?",
                                    f"Run 'armvm-oe avh check {base['avh']['path']}'")
        except ArmvmError as err:
            step, error = "avh", err
    if error is not None:
        base["failure"] = {"step": step, "what": error.what, "why": error.why,
                           "fix": error.fix}
    finish(base, versions, sink, "failed" if error else "succeeded", 1 if error else 0, t0,
           None)
    path = write_report(base, build_dir, owner)
    return BuildOutcome(base, 1 if error else 0, error, path)


def finish_check(base: dict, versions: dict, sink: LineSink, t0: float, build_dir: Path,
                 log_dir: Path, target: str, project, owner, say) -> BuildOutcome:
    """--check after kas returned 0: what bitbake -g / -e wrote, checked."""
    from armvm_oe.imagebuild.check import CHECK_REPORT, evaluate
    # meta-armvm among the configuration's layers: the project's own, or
    # <work>/armvm-oe/meta-armvm under a user's kas file (docs/build.md)
    layer = next((Path(p) for p in project.bblayers() if Path(p).name == "meta-armvm"),
                 Path(project.top_repo_path) / "meta-armvm")
    steps = [{"step": s, "ok": True, "detail": d} for s, d in (
        ("preflight", "no fatal doctor finding"), ("checkout", "every repo at its lock"),
        ("kas", f"kas {versions.get('kas') or sink.progress.kas_version or '?'} set up the "
                "build dir"),
        ("bitbake-parse", f"bitbake {sink.progress.bitbake_version or versions.get('bitbake')}"
                          " parsed every recipe; 'bitbake -g' and '-e' ran"))]
    if base.get("container"):
        steps.insert(2, {"step": "container-image", "ok": True,
                         "detail": base["container"]["image"]})
    steps += evaluate(build_dir, log_dir, target, layer if layer.is_dir() else None)
    for s in steps:
        say(f"check: {'ok  ' if s['ok'] else 'FAIL'} {s['step']}: {s['detail']}")
    bad = [s for s in steps if not s["ok"]]
    base["check"] = steps
    error = None
    if bad:
        error = BuildFailed(f"The check found {len(bad)} problem(s) before the first task "
                            f"({', '.join(s['step'] for s in bad)})", bad[0]["detail"],
                            "Fix the layer or configuration; the full report is "
                            f"{build_dir / CHECK_REPORT}")
        base["failure"] = {"step": bad[0]["step"], "what": error.what, "why": error.why,
                           "fix": error.fix}
    finish(base, versions, sink, "failed" if bad else "succeeded", 1 if bad else 0, t0, None)
    path = write_report(base, build_dir, owner, CHECK_REPORT)
    return BuildOutcome(base, 1 if bad else 0, error, path)


def write_report(base: dict, build_dir: Path, owner: Optional[tuple[int, int]],
                 name: str = rpt.REPORT_NAME) -> Path:
    path = rpt.Report(base).write(build_dir, name)
    hand_over(owner, path)
    return path


def finish(base: dict, versions: dict, sink: LineSink, status: str, code: int, t0: float,
            _unused) -> None:
    base["status"] = status
    base["exit_code"] = code
    base["versions"] = versions
    base["finished"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    base["seconds"] = round(time.time() - t0, 1)
    base["progress"] = sink.progress.as_dict()



def diagnose_failure(log_path: Path, sink: LineSink, rc: int, base: dict, say) -> ArmvmError:
    from armvm_oe.doctor.logscan import scan
    say(f"build: kas exited with {rc}; last {len(sink.tail)} lines of {log_path}:")
    for line in sink.tail:
        say("  | " + line)
    text = log_path.read_text(errors="replace")
    # the sanity checker's list whole (every line a finding), the failed
    # tasks' own errors (recipe, task, URL), then the pattern scan's findings
    # on other lines: it stops at one line of the list, and offline it names
    # a warning about uninative before the task that failed
    # doctor's scan follows the task logs the failure names ("Logfile of
    # failure stored in: /work/build/tmp/..." is found below the host's
    # build dir too) and reads bitbake's error reports
    build_dir = Path(base["build_dir"]) if base.get("build_dir") else None
    scanned = scan(text, source=str(log_path), log_path=log_path, build_dir=build_dir).findings
    by_line = {f.line_no: f for f in scanned}
    own = sanity_findings(text) + task_errors(text, sink.progress.failed_tasks)
    for f in own:
        known = by_line.get(f.line_no)
        if known is not None and f.id == "log.task-error":
            # the pattern scan knows this failure: its id, fix and evidence; our
            # title, which names the recipe and the task ("quilt-native do_fetch failed")
            f.id, f.fix, f.check = known.id, known.fix, known.check
            f.evidence = list(getattr(known, "evidence", None) or []) or None
    lines = {f.line_no for f in own}
    sanity = own
    findings = own + [f for f in scanned if f.line_no not in lines]
    causes = [f for f in findings if not f.cascade] or findings
    if findings:
        say("build: diagnosis (armvm-oe doctor --log):")
        for f in findings[:max(4, len(sanity))]:
            kind = "consequence" if f.cascade else "cause"
            say(ui.safe("  ", ui.badge(f.severity, sys.stderr),
                        f" {f.id} (line {f.line_no}, {kind}): {f.cause}"))
            say(f"      > {f.line}")
            say(f"      fix: {f.fix}")
    first = causes[0] if causes else None
    base["failure"] = {"kas_exit_code": rc, "last_lines": list(sink.tail),
                       "diagnosis": [f.as_dict() for f in findings[:max(10, len(sanity))]],
                       "first_cause": first.as_dict() if first else None,
                       "failed_tasks": sink.progress.failed_tasks}
    if first:
        return BuildFailed(f"The build failed (kas exit {rc}): {first.title}", first.cause,
                           first.fix + f". Full log: {log_path}", check_id=first.check)
    return BuildFailed(f"The build failed (kas exit {rc})", "no known cause was found in the log",
                       f"Read the full log: {log_path} (or run 'armvm-oe doctor --log "
                       f"{log_path}')")


def make_avh(opts: BuildOptions, artifacts: list, wic: str, build_dir: Path, project,
             target: Optional[str]) -> dict:
    """The AVH package from the deploy dir's kernel Image, one of its DTBs and
    the .wic as the device's storage; checked after writing."""
    from armvm_oe.avh.check import check_package
    from armvm_oe.avh.devices import device_table
    from armvm_oe.avh.pack import pack
    table = device_table(opts.avh_device_defs)
    dev = table.get(opts.avh_device)
    if not dev:
        raise UsageError(f"Unknown AVH device '{opts.avh_device}'",
                         f"known: {', '.join(sorted(table))}", "Add it with --avh-device-def")
    dtbs = [a for a in artifacts if a.kind == "dtb"]
    if opts.avh_dtb:
        pick = [a for a in dtbs if a.name == opts.avh_dtb or Path(a.name).name == opts.avh_dtb]
        dtb = Path(pick[0].path) if pick else Path(opts.avh_dtb)
        if not dtb.is_file():
            raise UsageError(f"--avh-dtb {opts.avh_dtb} is neither a DTB of the deploy dir nor "
                             "a file", f"deployed DTBs: {', '.join(a.name for a in dtbs) or 'none'}",
                             "Pass one of them or a path to a .dtb")
    elif len(dtbs) == 1:
        dtb = Path(dtbs[0].path)
    else:
        names = sorted({Path(a.name).name for a in dtbs})
        raise UsageError(
            "--avh needs one devicetree: " + (f"the build deployed {len(names)} DTBs "
                                              f"({', '.join(names)})" if names else
                                              "the build deployed no DTB"),
            "armvm machines build none by default (the VM firmware provides the FDT); a "
            "derived machine sets KERNEL_DEVICETREE (DTB convention: meta-armvm/README.md)",
            "Pass --avh-dtb NAME (or a path to the board's .dtb)")
    kernels = [a for a in artifacts if a.kind == "kernel"]
    kern = next((a for a in kernels if a.name == "Image"), None) or \
        next((a for a in kernels if a.link_to), None) or (kernels[0] if kernels else None)
    if not kern:
        raise UsageError("--avh found no kernel Image in the deploy dir", None,
                         "Check KERNEL_IMAGETYPE (Image for aarch64)")
    if len(dev.storage) != 1:
        raise UsageError(f"AVH device '{dev.name}' needs several storage files "
                         f"({', '.join(dev.storage)}); the build makes one disk image", None,
                         "Use 'armvm-oe avh pack' with --storage NAME=FILE for each")
    out = build_dir / f"{target or 'image'}-{project.machine}.avh-{dev.name}.zip"
    version = opts.avh_version or time.strftime("%Y.%m.%d")
    res = pack(out, Path(kern.path), dtb, dev, {dev.storage[0]: Path(wic)}, version=version,
               build=f"armvm-oe {target or ''} {project.machine}".replace("  ", " "))
    chk = check_package(out, table)
    opts.say(f"build: AVH package {out} ({dev.name}, {'valid' if chk.ok else 'INVALID'})")
    return {"path": str(out), "device": dev.name, "sha256": res.sha256, "size": res.size,
            "dtb": str(dtb), "kernel": kern.path, "info": res.info, "check_ok": chk.ok,
            "problems": [p.as_dict() for p in chk.problems]}
