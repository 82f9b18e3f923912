"""Move an existing checkout to its pin, safe against SIGKILL at any moment.

Order of work in an existing repository (all under the per-repo flock):

1. stale git lock files of a killed run (``index.lock``, ``shallow.lock``,
   ``refs/**.lock`` ...) are removed if no process holds them
   (:mod:`.recovery`); if one does, exit 1 naming it, nothing touched;
2. a journal left by a killed move is honoured: when every difference in the
   tree is content of the old or the new commit, the move is finished with
   ``git checkout -f``; otherwise the differences are the user's and the
   tree is reported dirty, as any other dirty tree;
3. dirty trees are not moved (exit 1) unless ``--force`` (named stash);
4. the pin is fetched (only if missing); the fetch does not touch the tree;
5. journal written, ``git checkout``, journal removed.

Every git failure is a one-paragraph error (exit 1), never a traceback.
"""

from __future__ import annotations

import time
from pathlib import Path

from armvm_oe.errors import ProblemFound
from armvm_oe.gitcheckout import recovery
from armvm_oe.gitcheckout.common import RepoResult, _git, _rev, _strip_heads, dirty_files, \
    effective_url, read_head
from armvm_oe.kasconfig import KasProject, RepoSpec


def _git_failed(repo: RepoSpec, what: str, exc) -> ProblemFound:
    msg = " ".join(str(getattr(exc, "stderr", "") or exc).split())[-500:]
    return ProblemFound(f"Repo '{repo.id}': git failed while {what} in {repo.path}",
                        f"git said: {msg or 'nothing'}",
                        "Nothing was lost (the tree is as git left it); fix what git names "
                        "and run the command again, or run 'armvm-oe doctor'")


def _clear_locks(co, repo: RepoSpec) -> None:
    removed, busy = recovery.clear_stale_locks(repo.path)
    if busy:
        pids = ", ".join(f"{pid} ({cmd[:60]})" for pid, cmd in busy[:5])
        raise ProblemFound(
            f"Repo '{repo.id}': another process is using {repo.path}: {pids}",
            "its git lock files are held, so they are not stale and must not be removed",
            "Wait for that process to finish (or stop it), then run the command again")
    for p in removed:
        co.say(f"{repo.id}: removed {p.relative_to(repo.path)} left by an interrupted git "
               "command (no process held it)")


def existing(co, repo: RepoSpec, project: KasProject) -> RepoResult:
    git = _git()
    url = effective_url(repo.url)
    res = RepoResult(repo.id, str(repo.path), "present", pinned=repo.pin)
    _clear_locks(co, repo)
    try:
        r = git.Repo(repo.path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise ProblemFound(f"{repo.path} is not a usable git checkout for repo '{repo.id}'",
                           str(exc), f"Move it away (mv {repo.path} {repo.path}.old) and run "
                           "the command again")
    try:
        return _existing(co, r, repo, project, url, res)
    except git.GitCommandError as exc:
        raise _git_failed(repo, "updating", exc)
    finally:
        r.close()


def _existing(co, r, repo: RepoSpec, project: KasProject, url: str,
              res: RepoResult) -> RepoResult:
    from armvm_oe.gitcheckout.patches import base_of_patched
    head = read_head(repo.path)
    journal = recovery.read_journal(repo.path)
    resume = False
    if journal:
        ours, foreign = recovery.interrupted_tree_is_ours(r, repo.path, journal)
        if ours:
            resume = True
            co.say(f"{repo.id}: finishing the move {str(journal.get('from'))[:12]} -> "
                   f"{journal['to'][:12]} that an interrupted run started")
        else:
            co.say(f"{repo.id}: an interrupted move to {journal['to'][:12]} left "
                   f"{len(foreign)} file(s) that are neither the old nor the new version "
                   f"(edited since?): {', '.join(foreign[:5])}")
    base = base_of_patched(repo.path) if repo.patches else None
    at = base or head
    want = repo.commit
    if not resume and want and at == want and not repo.tag and \
            (base or _on_expected_ref(repo) == _head_ref(repo.path)):
        co.set_refs(r, repo, want, url) if base else _ensure_kas_refs(co, r, repo, want, url)
        res.commit = read_head(repo.path)
        if not base:
            co.say(f"{repo.id}: already at {head[:12]} in {repo.path}")
        recovery.clear_journal(repo.path)
        return res
    changed = [] if resume else dirty_files(r)
    if changed and not co.force:
        res.action = "dirty"
        res.commit = head
        res.dirty_files = changed
        co.say(f"{repo.id}: NOT moved: {repo.path} has local changes in "
               f"{len(changed)} file(s): {', '.join(changed[:10])}"
               f"{' ...' if len(changed) > 10 else ''}")
        return res
    sha = co.fetch_pin(r, repo, url, res, repo.path, new=False)
    if not resume and at == sha and _on_expected_ref(repo) == _head_ref(repo.path):
        _ensure_kas_refs(co, r, repo, sha, url)
        res.commit = head
        recovery.clear_journal(repo.path)
        if not repo.patches:
            co.say(f"{repo.id}: already at {sha[:12]} in {repo.path}")
        return res
    if changed:
        label = (f"armvm-oe checkout {time.strftime('%Y-%m-%dT%H:%M:%S')}: "
                 f"local changes on {head[:12] if head else '?'} before moving to {sha[:12]}")
        r.git.stash("push", "-m", label)
        res.stash = f"stash@{{0}}: {label}"
        co.say(f"{repo.id}: --force: stashed {len(changed)} changed file(s) as "
               f"'{label}' (git -C {repo.path} stash list)")
    old = journal.get("from") if resume else head
    recovery.write_journal(repo.path, old, sha, repo.branch)
    co.set_refs(r, repo, sha, url, force=resume or bool(base))
    recovery.clear_journal(repo.path)
    res.action = "updated" if (base or head) != sha else "present"
    res.commit = read_head(repo.path)
    if res.action == "updated":
        co.say(f"{repo.id}: moved {old[:12] if old else '?'} -> {sha[:12]} in {repo.path}")
    return res


def _head_ref(path: Path) -> str | None:
    try:
        head = (Path(path) / ".git" / "HEAD").read_text().strip()
    except OSError:
        return None
    return head[4:].strip() if head.startswith("ref:") else None


def _on_expected_ref(repo: RepoSpec) -> str | None:
    return f"refs/heads/{_strip_heads(repo.branch)}" if repo.branch else None


def _ensure_kas_refs(co, r, repo: RepoSpec, sha: str, url: str) -> None:
    """Cheap local repairs so kas finds what it checks (no network)."""
    co._config_origin(r, url)
    if repo.branch:
        rref = f"refs/remotes/origin/{_strip_heads(repo.branch)}"
        cur = _rev(r, rref)
        if cur is None or (cur != sha and not co._contains(r, rref, sha)):
            r.git.update_ref(rref, sha)
