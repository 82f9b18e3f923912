"""The log scanner: the log model (normalisation, phases, blocks), every
pattern on its error text, the tie rule, following task logs and error
reports, never 'ok' on a failed build, filled templates, and the CLI's
text/JSON/SARIF output."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
from _need import need_fixture

from armvm_oe.doctor import logmodel, logscan
from armvm_oe.doctor.logscan import PATTERNS, diagnose, scan

HERE = Path(__file__).parent
SEED = Path("/work/shared/seeds/000_098be8412aed3594.txt")
SARIF_SCHEMA = json.loads((HERE / "data" / "sarif-2.1.0-minimal.schema.json").read_text())
UNFILLED = re.compile(r"(?<!\$)\{\w*\}|\s\?(?:\s|$)|\bNone\b")

SEED_CASCADE = """\
Last command, is giving me error like:
*jenkins-setup/init-and-build.sh: line 50: cd: poky: No such file or directory
jenkins-setup/init-and-build.sh: line 53: oe-init-build-env: No such
file or directory
jenkins-setup/functions.sh: line 70: conf/bblayers.conf: No such file or
directory
"""


def test_pattern_ids_unique_and_families_named():
    assert len(PATTERNS) >= 40
    assert len({p.id for p in PATTERNS}) == len(PATTERNS)
    for p in PATTERNS:
        assert p.id.startswith("log.") and p.id.startswith(p.fid)
        assert p.tier in (1, 2, 3) and p.keys
        assert p.cascade == (p.tier == 1), p.id


@pytest.mark.parametrize("pat", PATTERNS, ids=[p.id for p in PATTERNS])
def test_pattern_fires_on_its_error_text(pat):
    text = "NOTE: Executing Tasks\nsome noise\n" + pat.example + "\nNOTE: done\n"
    d = scan(text)
    mine = [f for f in d.findings if f.pattern == pat.id]
    assert mine, (pat.id, [(f.id, f.pattern) for f in d.findings])
    f = mine[0]
    assert f.id == pat.fid and f.line_no >= 3 and f.cause and f.fix
    assert not UNFILLED.search(f.cause) and not UNFILLED.search(f.fix), (f.cause, f.fix)
    if not pat.cascade:
        assert d.first.pattern == pat.id
    assert d.ties == []


def test_every_literal_key_is_in_its_example_or_regex():
    """A key that never occurs in a match would hide lines from the regex."""
    for p in PATTERNS:
        m = re.search(p.regex, p.example.replace("\n", " "))
        assert m, p.id
        assert any(k in p.example for k in p.keys), p.id


def test_tie_rule_checksum_beats_fetch_failure():
    """The issue's wrong cause: the generic fetch pattern won the tie."""
    line = ("ERROR: foo-1.0-r0 do_fetch: Fetcher failure for URL: 'https://x.org/foo.tgz'. "
            "Checksum mismatch!")
    d = scan(line)
    assert d.first.id == "log.checksum-mismatch" and "https://x.org/foo.tgz" in d.first.cause
    assert [f.id for f in d.findings] == ["log.checksum-mismatch"]    # one finding per line


def test_ties_are_reported_not_silent(monkeypatch):
    """Two patterns of the same tier matching the same span: the scan says
    so (Diagnosis.ties) instead of picking by list order."""
    from armvm_oe.doctor.logpatterns import Pattern
    twin = Pattern("log.twin", "twin", "error", 3, r"Checksum mismatch!", "c", "f",
                   "Checksum mismatch!", ("Checksum mismatch",))
    monkeypatch.setattr(logscan, "_COMPILED",
                        logscan._COMPILED + [(twin, re.compile(twin.regex, re.M))])
    d = scan("ERROR: foo-1.0-r0 do_fetch: Checksum mismatch!")
    assert d.ties and set(d.ties[0][1]) >= {"log.twin"}


# ---------------------------------------------------------------- the model

@pytest.mark.parametrize("raw,text,level", [
    ("2026-03-31 00:16:49 - ERROR    - ERROR: No new tasks can be executed",
     "ERROR: No new tasks can be executed", "ERROR"),
    ("Tue, 10 Feb 2026 10:59:34 GMT 2026-02-10 10:59:34 - INFO     - Initialising tasks...done.",
     "Initialising tasks...done.", "NOTE"),
    ("| make: *** [Makefile:12: all] Error 2", "make: *** [Makefile:12: all] Error 2", None),
    ("Parsing recipes...ERROR: ParseError at /x.bb:9: Could not inherit file classes/a.bbclass",
     "Parsing recipes...ERROR: ParseError at /x.bb:9: Could not inherit file classes/a.bbclass",
     "ERROR"),
    ("\x1b[31mERROR:\x1b[0m Nothing PROVIDES 'x'\r", "ERROR: Nothing PROVIDES 'x'", "ERROR"),
    ("> > WARNING: quoted in a mail", "WARNING: quoted in a mail", "WARNING"),
    ("2026-06-02T10:00:00.1234567Z ERROR: in a GitHub Actions log", "ERROR: in a GitHub "
     "Actions log", "ERROR"),
])
def test_normalise(raw, text, level):
    ln = logmodel.parse(raw).lines[0]
    assert ln.text == text and ln.level == level


def test_phases_of_a_kas_build():
    log = "\n".join([
        "2026-01-01 10:00:00 - INFO     - kas 5.5 started",
        "2026-01-01 10:00:01 - INFO     - Cloning repository poky",
        "2026-01-01 10:00:09 - INFO     - Parsing recipes...done.",
        "2026-01-01 10:00:10 - INFO     - NOTE: Executing Tasks",
        "2026-01-01 10:05:00 - ERROR    - ERROR: foo-1.0-r0 do_compile: oe_runmake failed",
        "2026-01-01 10:05:01 - INFO     - NOTE: Tasks Summary: Attempted 9 tasks of which 8 "
        "didn't need to be rerun and 1 failed.",
    ])
    m = logmodel.parse(log)
    assert [ln.phase for ln in m.lines] == ["setup", "setup", "parse", "build", "build", "post"]
    d = scan(log)
    assert d.phase == "build" and d.first.id == "log.unrecognised"
    assert "oe_runmake failed" in d.first.cause


def test_kas_timestamps_do_not_leak_into_the_tool_list():
    log = ("2026-01-01 10:00:00 - ERROR    - ERROR: The following required tools (as specified "
           "by HOSTTOOLS) appear to be unavailable in PATH, please install them in order to "
           "proceed:\n2026-01-01 10:00:00 - ERROR    -   chrpath diffstat lz4c\n")
    d = scan(log)
    assert d.first.id == "log.hosttools"
    assert d.first.cause.endswith("installed on the build host: chrpath diffstat lz4c")
    assert "2026" not in d.first.cause and " - " not in d.first.cause


def test_every_sanity_item_is_a_finding():
    """The sanity checker's list (texts from oe-core's sanity.bbclass): each
    problem is its own finding, recognised or not; none is lost."""
    log = """\
ERROR:  OE-core's config sanity checker detected a potential misconfiguration.
    Either fix the cause of this error or at your own risk disable the checker (see sanity.conf).
    Following is the list of potential problems / advisories:

    MACHINE=qemuarm99 is invalid. Please set a valid MACHINE in your local.conf, environment or other configuration file.

    /home/u/build/downloads is a broken symlink.

    Please use a umask which allows a+rx and u+rwx

    Your version of make 4.2.1 is broken. Please revert to 4.1 or install a fixed version.

Summary: There was 1 ERROR message, returning a non-zero exit code.
"""
    d = scan(log)
    ids = [f.id for f in d.findings]
    assert ids[:2] == ["log.invalid-machine", "log.broken-symlink"]
    assert ids.count("log.sanity-misc") == 2, ids
    assert any("make 4.2.1 is broken" in f.cause for f in d.findings)
    assert all(f.phase == "parse" for f in d.findings)
    assert "log.unrecognised" not in ids


def test_traceback_is_read_as_one_block():
    """The uid_map write is in a 'File' line, the exception alone says only
    'Operation not permitted': the block as a whole is the userns failure."""
    log = """\
ERROR: Task (/p/meta/recipes-core/zlib/zlib_1.3.1.bb:do_unpack) failed with exit code '1'
Traceback (most recent call last):
  File "/p/bitbake/bin/bitbake-worker", line 278, in child
    bb.utils.disable_network(uid, gid)
  File "/p/bitbake/lib/bb/utils.py", line 1696, in disable_network
    with open("/proc/self/uid_map", "w") as f:
PermissionError: [Errno 1] Operation not permitted
"""
    d = scan(log)
    assert d.first.id == "log.userns"
    assert d.first.line.startswith("PermissionError")
    assert d.findings[1].id == "log.task-failed" and d.findings[1].cascade


def test_unrecognised_traceback_quotes_its_exception():
    d = scan("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
             "KeyError: 'FOO'\n")
    assert d.first.id == "log.unrecognised" and "KeyError: 'FOO'" in d.first.cause


# ---------------------------------------------------------------- never ok

@pytest.mark.parametrize("log", [
    "NOTE: x\nERROR: something nobody has seen before\nERROR: second\n",
    "2026-01-01 10:00:00 - ERROR    - Something kas-level went wrong\n",
    "Parsing recipes...ERROR: a brand new parse failure\n",
    "| make[2]: *** [Makefile:9: foo.o] Error 1\n",
    "NOTE: Running task 9 of 9\nERROR: Task (/w/foo.bb:do_compile) failed with exit code '2'\n",
    "fatal: something git has not said before\n",
])
def test_never_ok_on_a_failed_build(log):
    d = scan(log)
    assert d.findings and d.first.id == "log.unrecognised", [f.id for f in d.findings]
    assert d.first.line in d.first.cause


def test_unknown_error_quotes_the_first_error_line():
    d = scan("NOTE: x\nERROR: something nobody has seen before\nERROR: second\n")
    assert [f.id for f in d.findings] == ["log.unrecognised"] and d.first.line_no == 2


def test_clean_log_is_ok():
    assert diagnose("NOTE: Tasks Summary: Attempted 4242 tasks of which 4242 didn't need "
                    "to be rerun and all succeeded.\n") == []


def test_kas_git_progress_on_stderr_is_not_an_error():
    log = ("2022-02-25 11:48:19 - ERROR    - From https://git.openembedded.org/meta-oe\n"
           "2022-02-25 11:48:19 - ERROR    -    23598caea..24f4e6e8d  master -> origin/master\n"
           "2022-02-25 11:48:19 - INFO     - Repository meta-oe updated\n")
    assert diagnose(log) == []


# ---------------------------------------------------------------- the cascade

def test_seed_cascade_is_explained_not_echoed():
    """The seed's report has only the cascade: explain the first symptom."""
    text = SEED.read_text() if SEED.exists() else SEED_CASCADE
    found = diagnose(text)
    assert found[0].id == "log.missing-checkout-cascade"
    assert "cd: poky: No such file or directory" in found[0].line
    assert "clone" in found[0].cause and "set -e" in found[0].cause
    assert [f.id for f in found][:3] == ["log.missing-checkout-cascade", "log.init-env-missing",
                                         "log.conf-missing"]


def test_real_cause_before_cascade():
    text = ("Initialized empty Git repository\n"
            "fatal: unable to connect to git.linaro.org:\n"
            "git.linaro.org[0: 1.2.3.4]: errno=Connection timed out\n" + SEED_CASCADE)
    found = diagnose(text)
    assert found[0].id == "log.git-unreachable" and "git.linaro.org" in found[0].cause
    assert found[1].id == "log.missing-checkout-cascade" and found[1].cascade


def test_real_shell_cascade(tmp_path):
    """A setup script without 'set -e' whose git:// clone really fails."""
    script = tmp_path / "init-and-build.sh"
    script.write_text(
        "git clone git://127.0.0.1:9/poky.git poky\n"
        "cd poky\n"
        ". ./oe-init-build-env ../build\n"
        "cat conf/bblayers.conf\n"
        "bitbake core-image-minimal\n")
    p = subprocess.run(["bash", str(script)], cwd=tmp_path, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "LANG": "C"}, timeout=60)
    log = p.stdout + p.stderr
    assert "cd: poky: No such file or directory" in log
    found = diagnose(log)
    assert found[0].id == "log.git-unreachable", log
    assert "port 9418" in found[0].cause
    assert [f.id for f in found if f.cascade][:2] == ["log.missing-checkout-cascade",
                                                     "log.init-env-missing"]


# ---------------------------------------------------------------- fixes that fit

def test_network_advice_fits_the_scheme():
    git = scan("ERROR: a-1.0-r0 do_fetch: Fetcher failure for URL: "
               "'git://git.yoctoproject.org/meta-x;branch=main'. Unable to fetch URL from any "
               "source.").first
    https = scan("ERROR: b-1.0-r0 do_fetch: Fetcher failure for URL: "
                 "'https://example.org/b-1.0.tar.gz'. Unable to fetch URL from any "
                 "source.").first
    assert "9418" in git.cause and "protocol=https" in git.fix
    assert "9418" not in https.cause + https.fix and "proxy" in https.fix
    tls = scan("fatal: unable to access 'https://github.com/x/y.git/': Failed to connect to "
               "github.com port 443: Connection timed out").first
    assert tls.id == "log.git-unreachable" and "9418" in tls.cause and "not involved" in \
        tls.cause and "proxy" in tls.fix.lower()


def test_kas_container_root_gets_docker_group_advice():
    f = scan("Error: Running as root - may break certain recipes.\nBetter give a regular user "
             "docker access. Set KAS_ALLOW_ROOT=yes to override.").first
    assert f.id == "log.kas-container-root"
    assert "usermod -aG docker" in f.fix and "useradd" not in f.fix


def test_layer_template_is_filled():
    f = scan("ERROR: Layer meta-foo is not compatible with the core layer which only supports "
             "these series: scarthgap (layer is compatible with kirkstone)").first
    assert f.fix == "Check out the scarthgap branch of layer meta-foo (or the core release " \
                    "the layer supports)"
    assert "'kirkstone'" in f.cause and "'scarthgap'" in f.cause


def test_no_template_field_is_ever_missing():
    """Every template name had a value on every example and real log."""
    logscan.MISSING_FIELDS.clear()
    for p in PATTERNS:
        scan(p.example)
    for f in sorted((HERE / "realworld").glob("*.log")):
        scan(f.read_text())
    assert logscan.MISSING_FIELDS == []


# ---------------------------------------------------------------- evidence

TASK_LOG = """\
DEBUG: Executing shell function do_compile
NOTE: make -j 16
| arm-poky-linux-gnueabi-g++: fatal error: Killed signal terminated program cc1plus
| compilation terminated.
ERROR: oe_runmake failed
"""


def _console(logfile: str) -> str:
    return (f"NOTE: Executing Tasks\n"
            f"ERROR: big-1.0-r0 do_compile: oe_runmake failed\n"
            f"ERROR: Logfile of failure stored in: {logfile}\n"
            f"ERROR: Task (/work/layers/meta-x/recipes/big/big_1.0.bb:do_compile) failed with "
            f"exit code '1'\n")


def test_task_log_is_followed(tmp_path):
    tl = tmp_path / "build" / "tmp" / "work" / "armv8a-poky-linux" / "big" / "1.0" / "temp" \
        / "log.do_compile.4242"
    tl.parent.mkdir(parents=True)
    tl.write_text(TASK_LOG)
    d = scan(_console(str(tl)))
    assert d.first.id == "log.oom-killed", [f.id for f in d.findings]
    ev = d.first.evidence
    assert ev[0]["line"].startswith("ERROR: Logfile of failure stored in:")
    assert ev[1]["source"] == str(tl) and "Killed signal" in ev[1]["line"]
    assert d.task_logs[0]["read"] and d.phase == "build"


def test_task_log_under_a_moved_build_dir(tmp_path, armvm):
    """The console says /work/build/... (inside kas-container); the build
    directory is on the host elsewhere: found via --build-dir and via the
    console log's own location."""
    host = tmp_path / "proj" / "build"
    tl = host / "tmp" / "work" / "armv8a-poky-linux" / "big" / "1.0" / "temp" / "log.do_compile.1"
    tl.parent.mkdir(parents=True)
    tl.write_text(TASK_LOG)
    container_path = "/work/build/tmp/work/armv8a-poky-linux/big/1.0/temp/log.do_compile.1"
    console = host / "tmp" / "log" / "cooker" / "qemuarm64" / "console-latest.log"
    console.parent.mkdir(parents=True)
    console.write_text(_console(container_path))
    d = logscan.scan_file(console)
    assert d.first.id == "log.oom-killed" and d.task_logs[0]["resolved"] == str(tl)
    elsewhere = tmp_path / "ci.log"
    elsewhere.write_text(_console(container_path))
    assert scan(elsewhere.read_text(), log_path=elsewhere).first.id == "log.unrecognised"
    r = armvm("doctor", "--log", elsewhere, "--build-dir", host, "--json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["first_cause"]["id"] == "log.oom-killed"
    assert [e["source"] for e in data["first_cause"]["evidence"]] == [str(elsewhere), str(tl)]
    assert data["phase"] == "build"


def test_error_report_is_read(tmp_path, armvm):
    """bitbake's report-error.bbclass output (JSON in error_report_*.txt)."""
    rep = tmp_path / "build" / "tmp" / "log" / "error-report"
    rep.mkdir(parents=True)
    (rep / "error_report_20260101120000.txt").write_text(json.dumps({
        "machine": "qemuarm64", "failures": [{
            "recipe": "foo", "package": "foo-1.0-r0", "task": "do_fetch",
            "log": "ERROR: foo-1.0-r0 do_fetch: Fetcher failure for URL: "
                   "'https://example.org/foo.tgz'. Checksum mismatch!\n"}]}))
    log = tmp_path / "console.log"
    log.write_text("NOTE: Executing Tasks\nSummary: 1 task failed:\n")
    r = armvm("doctor", "--log", log, "--build-dir", tmp_path / "build", "--json")
    data = json.loads(r.stdout)
    assert data["first_cause"]["id"] == "log.checksum-mismatch", data
    assert data["error_reports"] and "error_report_20260101120000.txt" in \
        data["first_cause"]["evidence"][-1]["source"]
    # a build directory given as --log: its cooker log and error reports
    r = armvm("doctor", "--log", tmp_path / "build", "--json")
    assert json.loads(r.stdout)["first_cause"]["id"] == "log.checksum-mismatch"


# ---------------------------------------------------------------- the CLI

def test_log_option_json_and_text(tmp_path, armvm):
    log = tmp_path / "console-latest.log"
    log.write_text("\n".join(p.example for p in PATTERNS if not p.cascade) + "\n")
    r = armvm("doctor", "--log", log, "--json")
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    # one finding per family (variants of a family collapse into the first)
    assert {f["id"] for f in data["findings"]} >= {p.fid for p in PATTERNS
                                                   if not p.cascade and p.tier == 3}
    assert data["first_cause"] == data["findings"][0] and data["phase"]
    r = armvm("doctor", "--log", log)
    assert "first cause" in r.stdout and "stopped in:" in r.stdout


def test_sarif_is_valid(tmp_path, armvm):
    tl = tmp_path / "build" / "tmp" / "work" / "a" / "big" / "1.0" / "temp" / "log.do_compile.9"
    tl.parent.mkdir(parents=True)
    tl.write_text(TASK_LOG)
    log = tmp_path / "ci.log"
    log.write_text(_console(str(tl)))
    r = armvm("doctor", "--log", log, "--format", "sarif")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SARIF_SCHEMA, format_checker=jsonschema.FormatChecker())
    res = doc["runs"][0]["results"]
    assert res[0]["ruleId"] == "log.oom-killed" and res[0]["level"] == "error"
    assert res[0]["properties"]["firstCause"] is True
    assert res[0]["relatedLocations"][-1]["physicalLocation"]["artifactLocation"]["uri"] == \
        str(tl)
    assert any(x["level"] == "note" and x["ruleId"] == "log.task-failed" for x in res)
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[x["ruleIndex"]]["id"] == x["ruleId"] for x in res)


def test_missing_log_is_a_usage_error(tmp_path, armvm):
    r = armvm("doctor", "--log", tmp_path / "nope.log")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "does not exist" in r.stderr
    # a directory that is no build directory (no cooker log, no error report)
    (tmp_path / "empty").mkdir()
    r = armvm("doctor", "--log", tmp_path / "empty")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "Cannot read the log" in r.stderr


@pytest.mark.poky
def test_real_bitbake_hosttools_error(tmp_path):
    """bitbake itself (as builder, PATH without chrpath): its error is
    recognised by the log scanner and predicted by host.hosttools."""
    import os
    import pwd
    import shutil
    import tempfile

    from armvm_oe.doctor import Context, facts
    from tests.doctor.conftest import fired, have_user

    from _yocto import tree        # ARMVM_MIRRORS (split repos) or ARMVM_POKY_DIR
    poky = tree("scarthgap").core  # oe-core (or poky): oe-init-build-env finds ../bitbake
    if not have_user("builder"):
        need_fixture("no builder user (.ci/setup.d/20-doctor.sh creates it)")
    tools, _ = facts.hosttools(Context(core_dir=poky))
    base = Path(tempfile.mkdtemp(prefix="doctor-bb-", dir="/tmp"))
    try:
        bindir = base / "bin"
        bindir.mkdir(parents=True)
        for t in tools:
            exe = shutil.which(t, path="/usr/sbin:/usr/bin:/sbin:/bin")
            if exe and t != "chrpath":
                (bindir / t).symlink_to(exe)
        uid = pwd.getpwnam("builder").pw_uid
        os.chown(base, uid, uid)
        base.chmod(0o755)
        env = {"PATH": str(bindir), "LANG": "en_US.UTF-8", "HOME": str(base)}
        assert fired(Context(env=env, core_dir=poky), "host.hosttools")
        script = f"cd {poky} && . ./oe-init-build-env {base}/build >/dev/null && bitbake -p"
        p = subprocess.run(["runuser", "-u", "builder", "--", "env", "-i",
                            *[f"{k}={v}" for k, v in env.items()], "bash", "-c", script],
                           capture_output=True, text=True, timeout=600)
        log = p.stdout + p.stderr
        found = diagnose(log)
        assert found and found[0].id == "log.hosttools", log
        assert "chrpath" in found[0].cause
    finally:
        subprocess.run(["rm", "-rf", str(base)])


def test_sarif_without_log_is_a_usage_error(armvm):
    r = armvm("doctor", "--only", "host.wsl1", "--format", "sarif")
    assert r.returncode == 2 and "--format sarif needs --log" in r.stderr
    r = armvm("doctor", "--only", "host.wsl1", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True


@pytest.mark.parametrize("report", ["not json", "[1, 2]", '{"failures": {"a": 1}}',
                                    '{"failures": ["x", {"log": 5}]}'])
def test_malformed_error_report_is_ignored(tmp_path, report):
    rep = tmp_path / "build" / "tmp" / "log" / "error-report"
    rep.mkdir(parents=True)
    (rep / "error_report_1.txt").write_text(report)
    d = scan("ERROR: Task (/w/foo.bb:do_compile) failed with exit code '1'\n",
             build_dir=tmp_path / "build")
    assert d.first.id == "log.unrecognised"


def test_odd_task_log_paths_do_not_crash():
    d = scan("ERROR: Logfile of failure stored in: /work/build/tmp/work/x\x00y/temp/log.do_x.1\n"
             "ERROR: Task (/w/foo.bb:do_x) failed with exit code '1'\n")
    assert d.findings and d.task_logs and d.task_logs[0]["read"] is False


# captured from real bitbake (poky scarthgap 72983ac391, `bitbake -p` with
# MACHINE = "nosuchmachine", no network): two problems not separated by a
# blank line (see test_real_bitbake_sanity_errors for the live run)
REAL_SANITY = """\
ERROR:  OE-core's config sanity checker detected a potential misconfiguration.
    Either fix the cause of this error or at your own risk disable the checker (see sanity.conf).
    Following is the list of potential problems / advisories:

    MACHINE=nosuchmachine is invalid. Please set a valid MACHINE in your local.conf, environment or other configuration file.
Fetcher failure for URL: 'https://www.yoctoproject.org/connectivity.html'. URL doesn't work.
    Please ensure your host's network is configured correctly.
    Please ensure CONNECTIVITY_CHECK_URIS is correct and specified URIs are available.
    If your ISP or network is blocking the above URL,
    try with another domain name, for example by setting:
    CONNECTIVITY_CHECK_URIS = "https://www.example.com/"    You could also set BB_NO_NETWORK = "1" to disable network
    access if all required sources are on local disk.


Summary: There was 1 ERROR message, returning a non-zero exit code.
"""


def test_sanity_problems_without_blank_lines_are_each_a_finding():
    d = scan(REAL_SANITY)
    assert [f.id for f in d.findings] == ["log.invalid-machine", "log.connectivity"]
    assert "nosuchmachine" in d.findings[0].cause
    assert "https://www.yoctoproject.org/connectivity.html" in d.findings[1].cause


def test_text_report_escapes_terminal_controls(tmp_path, armvm):
    """A log line that carries terminal controls (cursor up + erase line, an
    OSC title, a bidi override) is shown escaped in the text report, so a
    posted log cannot hide or rewrite what the user reads; --json keeps it exact."""
    evil = "ERROR: Nothing PROVIDES 'foo\x1b[1A\x1b[2K\x1b]0;pwned\x07\u202ebar'"
    log = tmp_path / "evil.log"
    log.write_text(evil + "\n", encoding="utf-8")
    r = armvm("doctor", "--log", log)
    assert r.returncode == 1
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\u202e" not in r.stdout
    assert "\\u202e" in r.stdout          # shown, escaped (ANSI is dropped by the log model)
    r = armvm("doctor", "--log", log, "--json")
    assert "\u202e" in json.loads(r.stdout)["findings"][0]["line"]
