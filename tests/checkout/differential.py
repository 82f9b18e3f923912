"""Run one kas configuration through ``kas checkout`` and ``armvm-oe checkout``
(separate work dirs, same project) and compare what each leaves behind.

Compared per repository (every ``.git`` under the work dir, outside the build
dir): its path, HEAD commit, what HEAD is (branch name or detached), the
tree, whether the tree is clean, the origin URL and the tags armvm-oe has
(each must exist in kas's clone with the same object: armvm-oe fetches only
the pinned tag, kas's full clone has them all). Plus ``build/conf/bblayers.conf``
and ``local.conf`` byte for byte, and the exit code (2 for both on input kas
refuses). A kas run that fails makes the armvm-oe run's failure the expected
result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(*args, cwd=None, check=True, env=None) -> str:
    e = dict(os.environ, **ENV, **(env or {}))
    r = subprocess.run(["git", *map(str, args)], cwd=cwd, env=e, capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError(f"git {' '.join(map(str, args))}: {r.stderr}")
    return r.stdout.strip()


def make_repo(bare: Path, commits: list[dict], branch: str = "master",
              tags: dict | None = None, extra_branches: dict | None = None) -> list[str]:
    """A bare repo from ``commits`` (each a {path: content or None} change
    set); ``tags``: name -> (commit index, annotated?); ``extra_branches``:
    name -> commit index. Returns the commit ids."""
    work = bare.with_name(bare.name + ".src")
    git("init", "-q", "-b", branch, work)
    shas = []
    for i, change in enumerate(commits):
        for path, content in change.items():
            p = work / path
            if content is None:
                p.unlink()
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
        git("add", "-A", cwd=work)
        date = f"@{1_700_000_000 + i} +0000"
        git("commit", "-q", "--allow-empty", "-m", f"commit {i}", cwd=work,
            env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
        shas.append(git("rev-parse", "HEAD", cwd=work))
    for name, (idx, annotated) in (tags or {}).items():
        args = ["-a", "-m", f"tag {name}"] if annotated else []
        git("tag", *args, name, shas[idx], cwd=work,
            env={"GIT_COMMITTER_DATE": "@1700000000 +0000"})
    for name, idx in (extra_branches or {}).items():
        git("branch", name, shas[idx], cwd=work)
    git("clone", "-q", "--bare", work, bare)
    git("config", "uploadpack.allowReachableSHA1InWant", "true", cwd=bare)
    git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=bare)
    return shas


def make_project(root: Path, files: dict[str, str]) -> Path:
    """The configuration's own repository (used in place by both tools)."""
    for path, content in files.items():
        p = root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    git("init", "-q", "-b", "main", root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "project", cwd=root)
    return root


def repo_state(repo: Path) -> dict:
    head = git("rev-parse", "HEAD", cwd=repo, check=False)
    return {
        "head": head,
        "head_ref": git("symbolic-ref", "-q", "HEAD", cwd=repo, check=False) or "detached",
        "tree": git("rev-parse", "HEAD^{tree}", cwd=repo, check=False),
        "clean": git("status", "--porcelain", "--untracked-files=no", cwd=repo) == "",
        "origin": git("remote", "get-url", "origin", cwd=repo, check=False),
        "tags": dict(line.split(" ", 1) for line in git(
            "for-each-ref", "--format=%(refname) %(objectname)", "refs/tags",
            cwd=repo).splitlines() if line),
    }


def snapshot(work: Path, build: str = "build") -> dict:
    out = {}
    for gitdir in sorted(work.rglob(".git")):
        repo = gitdir.parent
        rel = repo.relative_to(work)
        if rel.parts and (rel.parts[0] == build or rel.parts[0].startswith(".")):
            continue
        out[str(rel)] = repo_state(repo)
    for name in ("bblayers.conf", "local.conf"):
        f = work / build / "conf" / name
        out[f"{build}/conf/{name}"] = f.read_text() if f.exists() else None
    return out


@dataclass
class Outcome:
    kas_rc: int
    armvm_rc: int
    kas: dict
    armvm: dict
    kas_err: str
    armvm_err: str

    def differences(self) -> list[str]:
        """Every silent difference (empty: twins). A failing kas run expects
        a failing armvm-oe run (exit 2), nothing else is compared then."""
        if self.kas_rc != 0 or self.armvm_rc != 0:
            if self.kas_rc == self.armvm_rc == 2 or (self.kas_rc and self.armvm_rc):
                return []
            return [f"exit codes differ: kas {self.kas_rc}, armvm-oe {self.armvm_rc}\n"
                    f"kas: {self.kas_err[-1500:]}\narmvm-oe: {self.armvm_err[-1500:]}"]
        diffs = []
        for key in sorted(set(self.kas) | set(self.armvm)):
            k, a = self.kas.get(key), self.armvm.get(key)
            if isinstance(k, dict) and isinstance(a, dict):
                for field in ("head", "head_ref", "tree", "clean", "origin"):
                    if k[field] != a[field]:
                        diffs.append(f"{key}: {field}: kas {k[field]!r} armvm-oe {a[field]!r}")
                for tag, obj in a["tags"].items():
                    if k["tags"].get(tag) != obj:
                        diffs.append(f"{key}: armvm-oe has {tag} = {obj}, kas "
                                     f"{k['tags'].get(tag)}")
            elif k != a:
                diffs.append(f"{key}: kas {k!r}\n  armvm-oe {a!r}")
        return diffs


def run_both(config: str, work_root: Path, env: dict | None = None, kas_env: dict | None = None,
             armvm_args: tuple = (), timeout: int = 600) -> Outcome:
    """``config`` (':'-separated) through both tools, fresh work dirs (or the
    ones of an earlier call: re-runs are compared the same way)."""
    kwork, awork = work_root / "kas-work", work_root / "armvm-work"
    kwork.mkdir(parents=True, exist_ok=True)
    awork.mkdir(parents=True, exist_ok=True)
    base = dict(os.environ, NO_COLOR="1")
    for var in ("KAS_REPO_REF_DIR", "KAS_CLONE_DEPTH", "KAS_BUILD_DIR"):
        base.pop(var, None)
    base.update(env or {})
    k = subprocess.run([sys.executable, "-m", "kas", "checkout", config], cwd=kwork,
                       env=dict(base, KAS_WORK_DIR=str(kwork), **(kas_env or {})),
                       capture_output=True, text=True, timeout=timeout)
    a = subprocess.run([sys.executable, "-m", "armvm_oe", "checkout", config, *armvm_args],
                       cwd=awork, env=dict(base, KAS_WORK_DIR=str(awork)),
                       capture_output=True, text=True, timeout=timeout)
    return Outcome(k.returncode, a.returncode, snapshot(kwork), snapshot(awork),
                   k.stderr, a.stderr)
