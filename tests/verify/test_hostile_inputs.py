"""Hostile inputs to verify (issue 16): qcow2 backing files, special files,
kernel configs. Each case asserts the answer (exit code and reason); the
subprocess timeouts are hang guards, not time budgets."""

from __future__ import annotations

import os
import subprocess

import pytest
from _need import need_fixture

from armvm_oe.errors import InputError
from armvm_oe.verify import verify



@pytest.fixture(autouse=True)
def _qemu_img():
    if not os.path.exists("/usr/bin/qemu-img"):
        need_fixture("qemu-img (qemu-utils) is not installed")


def _qcow2_with_backing(tmp_path, backing: str, fmt: str = "raw", size: str | None = "100M"):
    """An overlay naming ``backing`` (-u: qemu-img does not open it)."""
    q = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *(["-u"] if size else []),
                    "-b", backing, "-F", fmt, str(q), *([size] if size else [])], check=True)
    return q


def test_qcow2_backing_refused_by_default(image, tmp_path, verify_cli):
    q = _qcow2_with_backing(tmp_path, str(image("aarch64")), size=None)
    with pytest.raises(InputError, match="backing file"):
        verify(q)
    rc, out, err, _ = verify_cli(q)
    assert rc == 2 and "--allow-backing" in err and "Traceback" not in err
    rc, out, err, _ = verify_cli(q, "--allow-backing")
    assert rc == 0, err


@pytest.mark.parametrize("backing", ["nbd://127.0.0.1:9/x", "http://127.0.0.1:9/x.img",
                                     'json:{"file.driver":"nbd","file.host":"127.0.0.1"}'])
def test_qcow2_network_backing_never_followed(tmp_path, verify_cli, backing):
    q = _qcow2_with_backing(tmp_path, backing)
    rc, out, err, _ = verify_cli(q, "--allow-backing", timeout=600)   # a hang guard
    assert rc == 2 and "protocol" in err and "never follows" in err, err   # refused from the header


def test_qcow2_backing_that_is_not_a_regular_file(tmp_path, verify_cli):
    q = _qcow2_with_backing(tmp_path, "/dev/zero")
    rc, out, err, _ = verify_cli(q, "--allow-backing", timeout=60)
    assert rc == 2 and "not a regular file" in err


@pytest.mark.parametrize("kind", ["fifo", "devzero", "directory", "missing", "empty"])
def test_special_files_as_image_exit_2(tmp_path, verify_cli, kind):
    bad = {"fifo": tmp_path / "fifo", "devzero": "/dev/zero", "directory": tmp_path,
           "missing": tmp_path / "nope.wic", "empty": tmp_path / "empty.wic"}[kind]
    if kind == "fifo":
        os.mkfifo(bad)
    if kind == "empty":
        bad.write_bytes(b"")
    rc, out, err, _ = verify_cli(bad, timeout=60)
    assert rc == 2 and "Traceback" not in err, err


@pytest.mark.parametrize("kind", ["fifo", "devzero", "directory"])
def test_special_files_as_kernel_config_exit_2(image, tmp_path, verify_cli, kind):
    bad = {"fifo": tmp_path / "fifo", "devzero": "/dev/zero", "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(bad)
    rc, out, err, _ = verify_cli(image("aarch64"), "--kernel-config", bad, timeout=60)
    assert rc == 2 and "Traceback" not in err, err


@pytest.mark.parametrize("command", ["run", "test"])
def test_boot_commands_refuse_network_backing(tmp_path, command, monkeypatch, capsys):
    """QEMU would follow the chain itself and hang on nbd://."""
    from armvm_oe import cli
    q = _qcow2_with_backing(tmp_path, "nbd://127.0.0.1:9/x")
    monkeypatch.setenv("ARMVM_DATA_DIR", str(tmp_path / "data"))
    argv = [command, str(q)] + (["--dry-run"] if command == "run" else ["--quick"])
    rc = cli.main(argv)
    assert rc == 2 and "protocol" in capsys.readouterr().err
