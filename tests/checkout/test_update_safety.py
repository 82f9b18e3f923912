"""Moving an existing tree: git lock files, user edits after a killed move,
--force failures (issue 17 item 2). Each is one paragraph and never a
traceback; nothing a user made is removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from differential import git
from test_update_kill import _chain, _config, _run


def _setup(tmp_path, commits=3, files=3000):
    bare = tmp_path / "big.git"
    shas = _chain(bare, commits, files)
    work = tmp_path / "work"
    work.mkdir()
    r = _run(_config(tmp_path, bare, shas[0]), work)
    assert r.returncode == 0, r.stderr
    return bare, shas, work, work / "big"


def test_lock_held_by_a_live_process_is_not_removed(tmp_path):
    bare, shas, work, repo = _setup(tmp_path, files=20)
    lock = repo / ".git" / "index.lock"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys,time; f=open(sys.argv[1],'w'); time.sleep(120)",
                               str(lock)])
    try:
        for _ in range(500):
            if lock.exists():
                break
            time.sleep(0.01)
        r = _run(_config(tmp_path, bare, shas[1]), work)
        assert r.returncode == 1, r.stderr
        assert str(holder.pid) in r.stderr and "Traceback" not in r.stderr
        assert lock.exists()
        assert git("rev-parse", "HEAD", cwd=repo) == shas[0]
    finally:
        holder.kill()
        holder.wait()
    r = _run(_config(tmp_path, bare, shas[1]), work)
    assert r.returncode == 0, r.stderr
    assert "removed .git/index.lock" in r.stderr
    assert git("rev-parse", "HEAD", cwd=repo) == shas[1]


def _kill_inside_checkout(tmp_path, bare, sha, work, repo):
    env = dict(os.environ, NO_COLOR="1", KAS_WORK_DIR=str(work))
    proc = subprocess.Popen([sys.executable, "-m", "armvm_oe", "checkout",
                             str(_config(tmp_path, bare, sha))], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    # index.lock alone may be git status refreshing the index; with the
    # journal it is the checkout moving the tree
    while proc.poll() is None and not ((repo / ".git" / "armvm-oe-update.json").exists()
                                       and (repo / ".git" / "index.lock").exists()):
        time.sleep(0.001)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (repo / ".git" / "index.lock").exists(), "the kill missed git checkout"


def test_user_edit_after_a_killed_move_is_kept(tmp_path):
    bare, shas, work, repo = _setup(tmp_path)
    _kill_inside_checkout(tmp_path, bare, shas[1], work, repo)
    mine = repo / "d00" / "f00000.txt"
    mine.write_text("MY EDIT\n")
    r = _run(_config(tmp_path, bare, shas[1]), work)
    assert r.returncode == 1, r.stderr
    assert "neither the old nor the new version" in r.stderr and "d00/f00000.txt" in r.stderr
    assert mine.read_text() == "MY EDIT\n"
    # --force keeps it too (in a named stash), then finishes the move
    f = subprocess.run(
            [sys.executable, "-m", "armvm_oe", "checkout", str(_config(tmp_path, bare, shas[1])),
             "--force"], cwd=work, env=dict(os.environ, NO_COLOR="1", KAS_WORK_DIR=str(work)),
            capture_output=True, text=True, timeout=300)
    assert f.returncode == 0, f.stderr
    assert git("rev-parse", "HEAD", cwd=repo) == shas[1]
    stash = git("stash", "list", cwd=repo)
    assert "armvm-oe checkout" in stash
    assert "MY EDIT" in git("stash", "show", "-p", "stash@{0}", cwd=repo)


def test_force_with_a_stale_index_lock_does_not_traceback(tmp_path):
    """Issue 17: 'index.lock plus a half-checked-out tree ... --force then dies
    with a GitCommandError traceback'."""
    bare, shas, work, repo = _setup(tmp_path)
    _kill_inside_checkout(tmp_path, bare, shas[1], work, repo)
    f = subprocess.run([sys.executable, "-m", "armvm_oe", "checkout",
                        str(_config(tmp_path, bare, shas[2])), "--force"], cwd=work,
                       env=dict(os.environ, NO_COLOR="1", KAS_WORK_DIR=str(work)),
                       capture_output=True, text=True, timeout=300)
    assert f.returncode == 0, f.stderr
    assert "Traceback" not in f.stderr
    assert git("rev-parse", "HEAD", cwd=repo) == shas[2]
    assert git("status", "--porcelain", cwd=repo) == ""


def test_git_failure_during_force_is_one_paragraph(tmp_path):
    """git itself refuses (an untracked file of the user's is where the new
    pin has a file): exit 1 with git's message, the file kept."""
    bare = tmp_path / "s.git"
    src = tmp_path / "s.src"
    git("init", "-q", "-b", "main", src)
    (src / "a").write_text("1\n")
    git("add", "-A", cwd=src)
    git("commit", "-q", "-m", "1", cwd=src)
    first = git("rev-parse", "HEAD", cwd=src)
    (src / "new.txt").write_text("theirs\n")
    (src / "a").write_text("2\n")
    git("add", "-A", cwd=src)
    git("commit", "-q", "-m", "2", cwd=src)
    second = git("rev-parse", "HEAD", cwd=src)
    git("clone", "-q", "--bare", src, bare)
    work = tmp_path / "w"
    work.mkdir()
    assert _run(_config(tmp_path, bare, first), work).returncode == 0
    (work / "big" / "a").write_text("local edit\n")       # dirty: needs --force
    (work / "big" / "new.txt").write_text("mine\n")       # untracked, in the way
    f = subprocess.run([sys.executable, "-m", "armvm_oe", "checkout",
                        str(_config(tmp_path, bare, second)), "--force"], cwd=work,
                       env=dict(os.environ, NO_COLOR="1", KAS_WORK_DIR=str(work)),
                       capture_output=True, text=True, timeout=300)
    assert f.returncode == 1, f.stderr
    assert "Traceback" not in f.stderr and "git said" in f.stderr
    assert (work / "big" / "new.txt").read_text() == "mine\n"
    assert "local edit" in git("stash", "show", "-p", cwd=work / "big")
    assert git("rev-parse", "HEAD", cwd=work / "big") == first
