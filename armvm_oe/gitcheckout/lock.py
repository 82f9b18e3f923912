"""armvm-oe lock: write or refresh kas lock files (``git ls-remote`` only)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from armvm_oe.errors import InputError
from armvm_oe.gitcheckout.common import _git, effective_url
from armvm_oe.gitcheckout.pointrelease import TagsUnavailable, ls_remote_tags, status
from armvm_oe.kasconfig import (HEX40, KasProject, RepoSpec, load_config, lock_file_for,
                                split_configs, write_lock)


@dataclass
class LockChange:
    id: str
    ref: str | None
    old: str | None
    new: str | None
    lock_file: str | None
    tag: str | None = None          # the release tag of the new pin (None: a branch head)
    old_tag: str | None = None

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


def newest_release(repo: RepoSpec, timeout: float = 60) -> tuple[str | None, str | None,
                                                                  str | None]:
    """(old tag, new tag, new commit): a pin at a ``yocto-<series>.N`` tag
    moves to the newest release tag of that series on the remote; (old tag or
    None, None, None) when the pin is no point release or the series has no
    release tag there (the caller falls back to the branch head)."""
    url = effective_url(repo.url)
    try:
        tags = ls_remote_tags(url, timeout)
    except TagsUnavailable as exc:
        raise InputError(f"Cannot read the tags of repo '{repo.id}' from {url}", str(exc),
                         "Check the URL and your network or proxy, and run 'armvm-oe doctor "
                         "--network'") from None
    st = status(repo.id, repo.commit or "", repo.branch, tags, "remote")
    if not st.pinned_tag or not st.newest_tag:
        return st.pinned_tag, None, None
    return st.pinned_tag, st.newest_tag, st.newest_commit


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
        old_tag = new_tag = None
        if update and old and repo.branch:
            old_tag, new_tag, new = newest_release(repo)
            if new is None:
                new = remote_commit(repo)
        elif update or not old:
            new = remote_commit(repo)
        else:
            new = old
        target = holder or top_lock
        plan.setdefault(target, {})[repo.id] = new
        ref = f"branch {repo.branch}" if repo.branch else (f"tag {repo.tag}" if repo.tag else None)
        if ref:
            note = f"{ref}, tag {new_tag}" if new_tag else \
                (f"{ref} head" if update and repo.branch else ref)
            comments.setdefault(target, {})[repo.id] = note
        changes.append(LockChange(repo.id, ref, old, new, str(target), new_tag, old_tag))
        if update and new != old and old:
            _repin_configs(project, repo.id, old, new, new_tag)
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


def _repin_configs(project: KasProject, rid: str, old: str, new: str, tag: str | None) -> None:
    """Move a pin written in the project's own config files (``commit: <old>``
    of repo ``rid``, and a ``# tag ...`` comment on the line above it) to
    ``new``, so the configuration and its lock agree. Text-level, one line
    each: the rest of the file (comments, order) stays as written."""
    import re

    from armvm_oe.lib import atomic_write
    locks = {os.path.abspath(p) for p in project.lock_files}
    for cfg in project.config_files:
        cfg = Path(cfg)
        if os.path.abspath(cfg) in locks or not cfg.is_relative_to(project.top_repo_path):
            continue
        try:
            data = yaml.safe_load(cfg.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        spec = ((data.get("repos") or {}).get(rid) or {})
        if not isinstance(spec, dict) or spec.get("commit") != old:
            continue
        lines = cfg.read_text().split("\n")
        hits = [i for i, ln in enumerate(lines) if re.fullmatch(rf"\s*commit:\s*{old}\s*", ln)]
        if len(hits) != 1:
            continue
        i = hits[0]
        lines[i] = lines[i].replace(old, new)
        if tag and i > 0 and re.fullmatch(r"\s*# tag yocto-\S+.*", lines[i - 1]):
            indent = lines[i - 1][:len(lines[i - 1]) - len(lines[i - 1].lstrip())]
            lines[i - 1] = f"{indent}# tag {tag}"
        atomic_write(cfg, "\n".join(lines))
