"""The console state machine (boot reached, login, password prompts) against
scripted consoles: small programs on a pty that print what an installed
system prints and answer like getty/login/sh. Fast; the real guests are in
test_boot.py and test_distro.py."""

from __future__ import annotations

import sys
import textwrap

import pytest

from armvm_oe.qemu import Console, ConsoleError, Login, LoginError

GUEST = textwrap.dedent(r'''
    import sys, time
    mode, password = sys.argv[1], sys.argv[2]
    out = sys.stdout
    def say(s):
        out.write(s); out.flush()
    say("[    0.000000] Booting Linux on physical CPU 0x0\r\n")
    say("[    0.000000] GICv3: 224 SPIs implemented\r\n")
    if mode == "panic":
        say("[    1.0] Kernel panic - not syncing: VFS: Unable to mount root fs\r\n")
        time.sleep(30)
    if mode == "initramfs":
        say("ALERT!  UUID=1234 does not exist.  Dropping to a shell!\r\n(initramfs) ")
        time.sleep(30)
    say("[  OK  ] Reached target multi-user.target - Multi-User System.\r\n")
    if mode == "silent-getty":      # the prompt only comes after Enter
        sys.stdin.readline()
    say("\r\nDebian GNU/Linux 12 testhost ttyAMA0\r\n\r\ntesthost login: ")
    user = sys.stdin.readline().strip()
    if password != "-":
        say("Password: ")
        got = sys.stdin.readline().rstrip("\r\n")
        if got != password:
            say("\r\nLogin incorrect\r\ntesthost login: ")
            time.sleep(30)
    say("\r\nLast login: Tue Dec  1 13:26:47 UTC 2026 on ttyAMA0\r\n")
    say("Linux testhost 6.1.0\r\n" + user + "@testhost:~# ")
    ps1 = "# "
    for line in sys.stdin:
        line = line.strip()
        if "PS1=" in line:
            ps1 = "armvm# "
        elif line.startswith("echo hi"):
            tag = line.split("echo ")[-1].replace("$?", "0")
            say("hi\r\n" + tag + "\r\n")
        elif "poweroff" in line:
            sys.exit(0)
        else:
            tag = line.rsplit("echo ", 1)[-1].replace("$?", "0")
            say(tag + "\r\n")
        say(ps1)
''')


def _spawn(tmp_path, mode="ok", password="-"):
    script = tmp_path / "guest.py"
    script.write_text(GUEST)
    return Console.spawn([sys.executable, str(script), mode, password],
                         log_path=tmp_path / "serial.log")


def test_login_prompt_then_empty_password_login(tmp_path):
    with _spawn(tmp_path) as con:
        b = con.wait_boot(timeout=30)
        assert b.how == "login" and b.hostname == "testhost" and "systemd" in b.marks
        assert "GICv3: 224 SPIs" in b.text
        assert con.login(Login.parse("root")) == "no password"
        rc, out = con.run("echo hi")
        assert rc == 0 and out == "hi"


def test_password_login(tmp_path):
    with _spawn(tmp_path, password="s3cret") as con:
        con.wait_boot(timeout=30)
        assert con.login(Login.parse("root:s3cret")) == "password"
        assert con.shell


def test_password_prompt_without_credentials_is_a_login_error(tmp_path):
    with _spawn(tmp_path, password="s3cret") as con:
        con.wait_boot(timeout=30)
        with pytest.raises(LoginError) as e:
            con.login(Login.parse("root"))
    assert "asks for root's password" in str(e.value)
    assert "--login root:PASSWORD" in str(e.value)


def test_wrong_password_is_refused_not_a_timeout(tmp_path):
    with _spawn(tmp_path, password="s3cret") as con:
        con.wait_boot(timeout=30)
        with pytest.raises(LoginError) as e:
            con.login(Login.parse("root:wrong"), timeout=20)
    assert "Login incorrect" in str(e.value)


def test_silent_getty_gets_an_enter_after_systemd_targets(tmp_path):
    with _spawn(tmp_path, mode="silent-getty") as con:
        b = con.wait_boot(timeout=40, nudge_after=1.0)
        assert b.how == "login"


@pytest.mark.parametrize("mode,what", [("panic", "kernel panicked"),
                                       ("initramfs", "did not find the root device")])
def test_boot_failures_are_named(tmp_path, mode, what):
    with _spawn(tmp_path, mode=mode) as con:
        with pytest.raises(ConsoleError) as e:
            con.wait_boot(timeout=20)
    assert what in str(e.value)
