"""Every ``--json`` output has a schema (armvm_oe/schemas.py), and the real
output of each command validates against it.

Cheap outputs are produced here (a local git repository as the kas project,
the fixture image for ``run --dry-run``); the expensive ones are validated
where their area's tests already produce them: ``test`` in tests/boot (a real
boot matrix), ``container build`` in tests/container/test_image.py,
``container check`` in the nightly tests/container/test_repro.py, ``avh``
in tests/avh, ``build`` in the build tests (its report schema), ``verify``
in tests/verify (model.SCHEMA). test_each_schema_is_used checks that each
schema name is validated against real output somewhere under tests/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from armvm_oe import plugins, schemas

ROOT = Path(__file__).resolve().parent.parent
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
           "GIT_CONFIG_NOSYSTEM": "1"}


def cli_json(*args, cwd, env=None, rc=(0,)):
    e = dict(os.environ, NO_COLOR="1", **(env or {}))
    p = subprocess.run([sys.executable, "-m", "armvm_oe", *map(str, args), "--json"],
                       cwd=cwd, env=e, capture_output=True, text=True, timeout=300)
    assert p.returncode in rc, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return json.loads(p.stdout)


def test_each_schema_is_a_valid_schema_and_shipped():
    shipped = {p.name[:-len(".schema.json")]
               for p in (ROOT / "armvm_oe" / "data" / "schemas").glob("*.schema.json")}
    assert shipped, "no schema files in armvm_oe/data/schemas"
    assert shipped <= set(schemas.names()), f"not in schemas.OUTPUTS: {shipped - set(schemas.names())}"
    for name in schemas.names():
        s = schemas.load(name)
        jsonschema.validators.validator_for(s).check_schema(s)
        assert s.get("type") == "object", name


def test_every_command_has_a_schema():
    """A command (all of them take --json) without an entry in schemas.OUTPUTS fails."""
    covered = {k.split()[0] for k in schemas.OUTPUTS if not k.startswith("(")}
    missing = sorted(m.NAME for m in plugins.discover() if m.NAME not in covered)
    assert not missing, f"--json output without a schema: {missing} (add it to armvm_oe/schemas.py)"


def test_each_schema_is_used():
    """Each schema is validated against a real output by some test: its name
    appears in a validate('NAME', ...) call (or, for the in-code ones, their
    constant) in tests/."""
    text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    used = set(re.findall(r"validate\(\s*[\"']([\w-]+)[\"']", text))
    used |= {"verify"} if "model import SCHEMA" in text else set()
    used |= {"build-report"} if "REPORT_SCHEMA" in text else set()
    assert set(schemas.names()) <= used, sorted(set(schemas.names()) - used)


def test_validate_refuses_a_wrong_shape():
    doc = {"update": False, "repos": [{"id": "x", "ref": None, "old": None, "new": "1" * 40,
                                       "lock_file": None, "changed": True}]}
    schemas.validate("lock", doc)
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate("lock", {**doc, "repos": [{**doc["repos"][0], "changed": "yes"}]})
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate("lock", {"repos": []})
    with pytest.raises(KeyError):
        schemas.load("no-such-output")


# --------------------------------------------------------------------------
# real outputs

@pytest.fixture
def kas_project(tmp_path):
    """A kas project with one layer repository served from a local bare repo."""
    def git(*a, cwd=None):
        return subprocess.run(["git", "-c", "init.defaultBranch=main", *map(str, a)], cwd=cwd,
                              env=dict(os.environ, **GIT_ENV), check=True,
                              capture_output=True, text=True).stdout.strip()
    src = tmp_path / "src"
    (src / "conf").mkdir(parents=True)
    (src / "conf" / "layer.conf").write_text('BBFILE_COLLECTIONS += "x"\n')
    # kas (and so checkout) needs exactly one repo holding the init script
    (src / "oe-init-build-env").write_text("# stub\n")
    git("init", "-q", src)
    git("add", "-A", cwd=src)
    git("commit", "-qm", "one", cwd=src)
    commit = git("rev-parse", "HEAD", cwd=src)
    git("clone", "-q", "--bare", src, tmp_path / "x.git")
    cfg = tmp_path / "proj" / "t.yml"
    cfg.parent.mkdir()
    cfg.write_text(f"header:\n  version: 14\nmachine: qemuarm64\nrepos:\n  meta-x:\n"
                   f"    url: file://{tmp_path}/x.git\n    branch: main\n    commit: {commit}\n"
                   "    layers:\n      .:\n")
    return cfg


def test_checkout_lock_status(kas_project, tmp_path):
    work = tmp_path / "work"
    env = dict(GIT_ENV, HOME=str(tmp_path))
    doc = schemas.validate("lock", cli_json("lock", kas_project, cwd=kas_project.parent, env=env))
    assert [r["id"] for r in doc["repos"]] == ["meta-x"]
    doc = schemas.validate("status", cli_json("status", kas_project, "--work-dir", work,
                                              cwd=kas_project.parent, env=env, rc=(1,)))
    assert doc["repos"][0]["state"] == "missing" and doc["ok"] is False
    doc = schemas.validate("checkout", cli_json("checkout", kas_project, "--work-dir", work,
                                                cwd=kas_project.parent, env=env))
    assert doc["repos"][0]["action"] == "cloned" and doc["ok"] is True
    doc = schemas.validate("status", cli_json("status", kas_project, "--work-dir", work,
                                              cwd=kas_project.parent, env=env))
    assert doc["repos"][0]["state"] == "ok"


def test_run_and_instances(tmp_path):
    from armvm_oe.testing.fixtures import build_image

    image = build_image("aarch64", "compliant")
    env = {"ARMVM_DATA_DIR": str(tmp_path / "data")}
    doc = schemas.validate("instances", cli_json("instances", cwd=tmp_path, env=env))
    assert doc["instances"] == []
    doc = schemas.validate("run", cli_json("run", image, "--dry-run", "--instance", "s1",
                                           cwd=tmp_path, env=env))
    assert doc["instance"] == "s1" and doc["argv"][0].endswith("qemu-system-aarch64")
    doc = schemas.validate("instances", cli_json("instances", cwd=tmp_path, env=env))
    assert [i["name"] for i in doc["instances"]] == ["s1"]
    doc = schemas.validate("instances-reset", cli_json("instances", "--reset-vars", "s1",
                                                       cwd=tmp_path, env=env))
    assert doc["reset"] == "s1"


def test_doctor_report_log_and_list(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    doc = cli_json("doctor", ROOT / "kas" / "armvm-aarch64.yml", "--work-dir", work,
                   "--only", "checkout,kas", cwd=ROOT, rc=(1,))
    assert "checkout.missing-poky-cascade" in [r["id"] for r in schemas.validate("doctor", doc)["results"]]
    log = tmp_path / "build.log"
    log.write_text("ERROR: Nothing PROVIDES 'python3-foo'\n")
    doc = schemas.validate("doctor-log", cli_json("doctor", "--log", log, cwd=tmp_path, rc=(1,)))
    assert doc["findings"][0]["id"] == "log.nothing-provides"
    doc = schemas.validate("doctor-list", cli_json("doctor", "--list", cwd=tmp_path))
    assert len(doc["checks"]) >= 20


def test_container_tag(tmp_path):
    doc = schemas.validate("container-tag", cli_json("container", "tag", cwd=ROOT))
    assert doc["tag"].endswith(doc["inputs"][:16])


@pytest.mark.parametrize("args", [
    ["verify", "{tmp}/missing.wic"], ["run", "{tmp}/missing.wic"], ["test", "{tmp}/missing.wic"],
    ["checkout", "{tmp}/missing.yml"], ["lock", "{tmp}/missing.yml"],
    ["status", "{tmp}/missing.yml"], ["build", "{tmp}/missing.yml", "--host"],
    ["avh", "check", "{tmp}/missing.zip"], ["instances", "--reset-vars", "nope"],
    ["container", "build", "--env-docker-host"],
], ids=lambda a: "-".join(x for x in a if not x.startswith(("{", "--")))[:30])
def test_errors(args, tmp_path):
    env = {}
    if "--env-docker-host" in args:
        args = [a for a in args if a != "--env-docker-host"]
        env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    env["ARMVM_DATA_DIR"] = str(tmp_path / "data")
    doc = cli_json(*[a.replace("{tmp}", str(tmp_path)) for a in args], cwd=tmp_path, env=env,
                   rc=(1, 2))
    schemas.validate("error", doc)
    assert doc["what"]


def test_avh_pack_and_check(tmp_path):
    from armvm_oe.testing import debian

    kernel = debian.kernel("aarch64")[0]
    from armvm_oe.testing.fixtures import virt_dtb
    dtb = virt_dtb(tmp_path / "virt.dtb")
    disk = tmp_path / "disk.img"
    disk.write_bytes(os.urandom(64 << 10) + b"\0" * (1 << 20))
    doc = schemas.validate("avh-pack", cli_json(
        "avh", "pack", "--device", "rpi4b", "--kernel", kernel, "--dtb", dtb, "--storage", disk,
        "-o", tmp_path / "fw.zip", cwd=tmp_path))
    assert [m["name"] for m in doc["members"]][:3] == ["Info.plist", "kernel", "devicetree"]
    doc = schemas.validate("avh-check", cli_json("avh", "check", tmp_path / "fw.zip", cwd=tmp_path))
    assert doc["ok"] and doc["device"] == "rpi4b"


@pytest.mark.docker
def test_container_build(builder_image, cli_env):
    doc = schemas.validate("container-build", cli_json("container", "build", cwd=ROOT, env=cli_env))
    assert doc["tag"] == builder_image and doc["built"] is False


def test_doctor_log_json_of_every_real_log_fits_its_schema():
    # the real logs exercise fields the tiny log above never fills (phase,
    # evidence chains, error-report findings with line_no 0)
    from armvm_oe.doctor import logscan, report
    logs = sorted((ROOT / "tests" / "doctor" / "realworld").glob("*.log"))
    assert len(logs) >= 50
    for log in logs:
        doc = json.loads(json.dumps(report.findings_json(logscan.scan_file(log))))
        schemas.validate("doctor-log", doc)
