"""armvm-oe lock: write or refresh kas lock files (``git ls-remote`` only)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from armvm_oe.errors import InputError
from armvm_oe.gitcheckout.common import _git, effective_url
from armvm_oe.kasconfig import (HEX40, KasProject, RepoSpec, load_config, lock_file_for,
                                split_configs, write_lock)


@dataclass
class LockChange:
    id: str
    ref: str | None
    old: str | None
    new: str | None
    lock_file: str | None

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["changed"] = self.changed
        return d


def remote_commit(repo: RepoSpec) -> str:
    """The commit the repo's branch (or tag) points at on its server."""
    git = _git()
    url = effective_url(repo.url)
    if repo.branch:
        b = repo.branch[len("refs/heads/"):] if repo.branch.startswith("refs/heads/") \
            else repo.branch
        refs = [f"refs/heads/{b}"]
    elif repo.tag:
        refs = [f"refs/tags/{repo.tag}^{{}}", f"refs/tags/{repo.tag}"]
    else:
        return repo.commit
    try:
        out = git.cmd.Git().ls_remote(url, *refs)
    except git.GitCommandError as exc:
        raise InputError(f"Cannot read repo '{repo.id}' from {url}",
                         f"git said: {' '.join(str(exc.stderr).split())[-500:]}",
                         "Check the URL and your network or proxy, and run 'armvm-oe doctor'")
    found = dict(reversed(line.split("\t")) for line in out.splitlines() if "\t" in line)
    for ref in refs:
        if ref in found and HEX40.match(found[ref]):
            return found[ref]
    raise InputError(f"Repo '{repo.id}': {refs[0]} does not exist on {url}",
                     "the branch or tag in the configuration is not on the server",
                     "Fix 'branch:'/'tag:' in the configuration")


def _lock_entries(path: Path) -> dict:
    data = yaml.safe_load(path.read_text()) or {}
    return ((data.get("overrides") or {}).get("repos") or {}), \
        int((data.get("header") or {}).get("version", 14))


def lock(config, update: bool = False, work_dir=None) -> list[LockChange]:
    project: KasProject = load_config(config, work_dir=work_dir)
    top_lock = lock_file_for(split_configs(config)[0])
    own = [p for p in project.lock_files if p.is_relative_to(project.top_repo_path)]
    entries = {p: _lock_entries(p)[0] for p in own}
    plan: dict[Path, dict[str, str]] = {}
    comments: dict[Path, dict[str, str]] = {}
    changes = []
    for repo in project.remote_repos:
        holder = next((p for p in reversed(own) if repo.id in entries[p]), None)
        old = repo.commit
        if update or not old or holder is None:
            new = remote_commit(repo) if (update or not old) else old
        else:
            new = old
        target = holder or top_lock
        plan.setdefault(target, {})[repo.id] = new
        ref = f"branch {repo.branch}" if repo.branch else (f"tag {repo.tag}" if repo.tag else None)
        if ref:
            comments.setdefault(target, {})[repo.id] = ref
        changes.append(LockChange(repo.id, ref, old, new, str(target)))
    for path, commits in plan.items():
        existing, version = _lock_entries(path) if path.exists() else ({}, 14)
        merged = {k: v["commit"] for k, v in existing.items()
                  if isinstance(v, dict) and v.get("commit")}
        if merged == {**merged, **commits} and path.exists():
            continue
        merged.update(commits)
        locks = {os.path.abspath(p) for p in project.lock_files}
        write_lock(path, merged, header_version=version, comments=comments.get(path),
                   inputs=[c for c in project.config_files if os.path.abspath(c) not in locks])
    return changes
