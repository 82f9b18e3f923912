"""armvm-oe status: pinned vs actual commit of each repo (read-only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from armvm_oe.kasconfig import HEX40, KasProject
from armvm_oe.gitcheckout.common import _git, _rev, _strip_heads, dirty_files, partial_dirs, \
    read_head
from armvm_oe.gitcheckout.patches import base_of_patched


@dataclass
class RepoStatus:
    id: str
    path: str
    url: str | None
    pinned: str | None
    actual: str | None
    state: str          # ok | missing | wrong-commit | not-git | local
    dirty: bool = False
    dirty_files: list[str] = field(default_factory=list)
    branch: str | None = None
    partial: list[str] = field(default_factory=list)

    @property
    def problem(self) -> bool:
        return self.state in ("missing", "wrong-commit", "not-git") or \
            (self.dirty and self.state != "local")

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["problem"] = self.problem
        return d


def status(project: KasProject) -> list[RepoStatus]:
    git = _git()
    out = []
    for repo in project.repos:
        st = RepoStatus(repo.id, str(repo.path), repo.url, repo.commit or repo.tag or repo.branch,
                        None, "ok", branch=repo.branch,
                        partial=[str(p) for p in partial_dirs(repo.path)])
        if not repo.path.exists():
            st.state = "missing"
        elif not (repo.path / ".git").exists() and not repo.is_local:
            st.state = "not-git"
        else:
            try:
                r = git.Repo(repo.path, search_parent_directories=repo.is_local)
                st.actual = read_head(Path(r.working_tree_dir))
                # a tree kas (or armvm-oe) patched: HEAD is the patch commits on the pin
                at = (base_of_patched(repo.path) or st.actual) if repo.patches else st.actual
                st.dirty_files = dirty_files(r)
                st.dirty = bool(st.dirty_files)
                if repo.is_local:
                    st.state = "local"
                elif repo.commit and HEX40.match(repo.commit) and not repo.tag:
                    st.state = "ok" if at == repo.commit else "wrong-commit"
                else:
                    ref = f"refs/tags/{repo.tag_name}" if repo.tag else \
                        f"refs/remotes/origin/{_strip_heads(repo.branch or 'HEAD')}"
                    st.state = "ok" if _rev(r, ref) == at else "wrong-commit"
            except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
                st.state = "local" if repo.is_local else "not-git"
        out.append(st)
    return out
