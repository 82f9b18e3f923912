"""Materialise the repositories of a kas project, pinned, atomically.

Layout: exactly kas's (``<work_dir>/<name or id>`` unless ``path:`` says
otherwise), and the git state kas looks for, so that ``kas checkout`` /
``kas build`` afterwards find everything and fetch nothing:

* ``origin`` points at the (KAS_PREMIRRORS-rewritten) URL,
* a branch pin is checked out on local branch ``<branch>`` (kas: ``git
  checkout <commit>^{commit} -B <branch>``); a commit-only or tag pin is a
  detached HEAD; a tag pin has ``refs/tags/<tag>`` exactly as the server has
  it (annotated tag objects included): a tag is always fetched by name, never
  written by armvm-oe, and a ``commit:`` next to it must be the tag's commit
  or its tag object's id (kas's check), else exit 2;
* ``refs/remotes/origin/<branch>`` exists and contains the commit.

The include loop is kas's (``InitSetupRepos`` / ``SetupReposStep``): repos
named by ``repo:`` includes are checked out first, the configuration is read
again with their files, and so on until no new repo is needed; a repo that
is still missing after a round is an error, as in kas.

Fetching takes only what the pin needs: ``git fetch --depth 1 origin <sha>``
in a new clone or an already shallow one (a full clone, e.g. one kas made, is
never made shallow); if the server refuses, the full branch. Nothing is
fetched when the pin is already there (a branch-only pin whose
``origin/<branch>`` exists included, unless ``--update``, as in kas).

Atomicity of new clones: built in a hidden sibling directory
``.<name>.armvm-oe-partial.<pid>`` and renamed into place when complete,
under an flock on ``.<name>.armvm-oe.lock``; leftovers are removed by the
next run. Moving an existing tree is in :mod:`armvm_oe.gitcheckout.update`.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from armvm_oe import ui
from armvm_oe.errors import InputError, ProblemFound, UsageError
from armvm_oe.gitcheckout import recovery
from armvm_oe.gitcheckout.common import (
    PARTIAL, REFUSED, RepoResult, _fetch, _fsync_dir, _git, _has_commit, _human, _locked,
    _object_stats, _objects_dir, _read_ref, _rev, _say, _strip_heads, effective_url,
    find_mirror, partial_dirs, qualified_name, read_head)
from armvm_oe.kasconfig import KasProject, RepoSpec, load_config

KAS_HINT = "use 'kas checkout' for this configuration"


def unsupported(project: KasProject) -> None:
    """Refuse (exit 2) what armvm-oe does not implement, instead of doing
    something else than kas would."""
    if project.config.get("_source_dir") is not None:
        raise UsageError("The configuration sets '_source_dir', which armvm-oe checkout does "
                         "not support", "kas-container writes it to move the top repository; "
                         "ignoring it would resolve includes and local repos elsewhere", KAS_HINT)
    for repo in project.repos:
        where = f" ({repo.source})" if repo.source else ""
        if repo.type != "git":
            raise UsageError(
                f"Repo '{repo.id}'{where} is of type '{repo.type}', which armvm-oe checkout "
                "does not support", "armvm-oe checks out git repositories only (kas also "
                "knows Mercurial)", KAS_HINT)
        if repo.signed:
            raise UsageError(
                f"Repo '{repo.id}'{where} is 'signed:' (allowed signers: "
                f"{', '.join(repo.allowed_signers or [])}); armvm-oe checkout does not "
                "verify signatures", "kas verifies the tag or commit signature against the "
                "'signers:' keys before checking out; checking out without that check would "
                "silently drop a security guarantee", KAS_HINT)


class Checkout:
    def __init__(self, project: KasProject, mirror_dirs: list[Path] | None = None,
                 force: bool = False, quiet: bool = False, update: bool = False):
        self.project = project
        self.force = force
        self.quiet = quiet
        self.update = update
        dirs = list(mirror_dirs or [])
        self.ref_dir = Path(os.environ["KAS_REPO_REF_DIR"]).absolute() \
            if os.environ.get("KAS_REPO_REF_DIR") else None
        if self.ref_dir:
            dirs.append(self.ref_dir)
        self.mirror_dirs = [Path(d).absolute() for d in dirs]
        self._mirrors_used: dict[str, Path] = {}
        self.tty = ui.interactive(sys.stderr)

    def say(self, msg: str) -> None:
        if not self.quiet:
            _say(msg)

    # -- the include loop ---------------------------------------------------
    def run(self) -> list[RepoResult]:
        base = self.project
        tops = base.top_files or base.config_files[-1:]
        results: dict[str, RepoResult] = {}
        done: dict[str, Path] = {}
        project = load_config(tops, work_dir=base.work_dir, include_repos=done)
        previous = None
        while project.missing_includes:
            if project.missing_includes == previous:
                raise InputError(
                    "Could not check out all repos needed by includes: missing "
                    f"{', '.join(project.missing_includes)}",
                    "an include names a repo ('repo:') that no configuration file declares "
                    "(kas: \"Could not fetch all repos needed by includes\")",
                    "Declare the repo under 'repos:' or fix the include")
            declared = {r.id: r for r in project.repos}
            unsupported(project)
            for rid in project.missing_includes:
                if rid in declared:
                    results[rid] = self.one(declared[rid], project)
                    done[rid] = declared[rid].path
            previous = project.missing_includes
            project = load_config(tops, work_dir=base.work_dir, include_repos=done)
        self.project = project
        unsupported(project)
        out = []
        for repo, res in zip(project.repos, self._parallel(project)):
            first = results.get(repo.id)
            if first is not None and res.action == "present" and first.action != "dirty":
                first.commit, first.seconds = res.commit, first.seconds + res.seconds
                res = first
            out.append(res)
        # kas's ReposApplyPatches: after every repo is at its pin
        from armvm_oe.gitcheckout.patches import apply_patches
        for repo, res in zip(project.repos, out):
            if repo.patches and res.action != "dirty":
                applied = apply_patches(repo, project)
                res.commit = read_head(repo.path)
                res.patches = [str(p) for p in applied]
                self.say(f"{repo.id}: applied {len(applied)} patch(es) as kas does, "
                         f"HEAD {res.commit[:12]} on patched-*")
        return out

    def _parallel(self, project: KasProject) -> list[RepoResult]:
        """Every repo of ``project``, fetched in parallel as kas does (each
        repo under its own flock); the first error is raised once all are done,
        so no clone is abandoned half-way."""
        from concurrent.futures import ThreadPoolExecutor
        jobs = int(os.environ.get("ARMVM_CHECKOUT_JOBS", "0")) or min(8, len(project.repos))
        if jobs <= 1 or len(project.repos) <= 1:
            return [self.one(repo, project) for repo in project.repos]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(self.one, repo, project) for repo in project.repos]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]
        return [f.result() for f in futures]

    # -- one repository ---------------------------------------------------
    def one(self, repo: RepoSpec, project: KasProject | None = None) -> RepoResult:
        project = project or self.project
        t0 = time.monotonic()
        if repo.is_local:
            head = read_head(repo.path)
            if not repo.path.is_dir():
                raise InputError(f"Repo '{repo.id}' has no URL and its path {repo.path} "
                                 "does not exist",
                                 "repos without 'url:' are used in place, never cloned",
                                 "Fix 'path:' in the configuration or add a 'url:'")
            return RepoResult(repo.id, str(repo.path), "local", head, None)
        if self._fast_present(repo):
            self.say(f"{repo.id}: already at {read_head(repo.path)[:12]} in {repo.path}")
            return RepoResult(repo.id, str(repo.path), "present", read_head(repo.path),
                              repo.pin, seconds=round(time.monotonic() - t0, 3))
        from armvm_oe.gitcheckout.update import existing
        with _locked(repo.path.parent, repo.path.name):
            for stale in partial_dirs(repo.path):
                self.say(f"{repo.id}: removing {stale.name} left by an interrupted checkout")
                shutil.rmtree(stale, ignore_errors=True)
            if repo.path.exists() and not (repo.path / ".git").exists():
                if repo.path.is_dir() and not any(repo.path.iterdir()):
                    repo.path.rmdir()
                else:
                    raise ProblemFound(
                        f"{repo.path} exists but is not a git checkout, so repo '{repo.id}' "
                        "cannot be checked out there",
                        "armvm-oe never overwrites a directory it did not create",
                        f"Move it away (mv {repo.path} {repo.path}.old) and run the "
                        "command again")
            if repo.path.exists():
                res = existing(self, repo, project)
            else:
                res = self._clone(repo, project)
        res.seconds = round(time.monotonic() - t0, 3)
        return res

    def _fast_present(self, repo: RepoSpec) -> bool:
        """Everything in place? Pure file reads (no git process, no gitpython):
        HEAD at the pin, origin at the URL, origin/<branch> present, no
        leftover of an interrupted run (partial clone, journal, git lock)."""
        gitdir = repo.path / ".git"
        if repo.patches or repo.tag or (self.update and not repo.commit) \
                or not gitdir.is_dir() or partial_dirs(repo.path) \
                or (gitdir / recovery.JOURNAL).exists() or any(gitdir.glob("*.lock")):
            return False
        head = read_head(repo.path)
        if repo.branch:
            b = _strip_heads(repo.branch)
            tracking = _read_ref(gitdir, f"refs/remotes/origin/{b}")
            if not tracking or (repo.branch.startswith("refs/") and not _read_ref(
                    gitdir, f"refs/remotes/origin/{repo.branch[len('refs/'):]}")):
                return False
            try:
                if (gitdir / "HEAD").read_text().strip() != f"ref: refs/heads/{b}":
                    return False
            except OSError:
                return False
            if head != (repo.commit or tracking):
                return False
        elif not repo.commit or head != repo.commit:
            return False
        try:
            cfg = (gitdir / "config").read_text()
        except OSError:
            return False
        m = re.search(r'\[remote "origin"\][^\[]*?^\s*url\s*=\s*(\S+)\s*$', cfg, re.M)
        return bool(m) and m.group(1) == effective_url(repo.url)

    # -- fetching ------------------------------------------------------------
    def fetch_pin(self, r, repo: RepoSpec, url: str, res: RepoResult, repo_dir: Path,
                  new: bool) -> str:
        """Get the pinned commit into ``r`` (network only when it is missing
        or --update asks for a branch tip); returns the commit to check out."""
        git = _git()
        label = repo.id
        branch = _strip_heads(repo.branch) if repo.branch else None
        # never turn a full clone (kas's, or a user's) into a shallow one
        depth = ["--depth", "1"] if new or (Path(r.git_dir) / "shallow").exists() else []
        empty = not any((_objects_dir(repo_dir) / "pack").glob("*.pack"))
        before = (0, 0) if empty else _object_stats(r)
        tag = repo.tag_name

        def fetch(args: list[str], what: str, kind: str) -> None:
            self.say(f"{label}: fetching {what}{' (shallow)' if depth else ''} from {url}")
            objs, nbytes, _ = _fetch(r, label, args)
            res.fetch = kind
            after = _object_stats(r) if not (objs and nbytes) else (0, 0)
            res.objects += max(objs, after[0] - before[0])
            res.bytes += max(nbytes, after[1] - before[1])
        fetch.repo = r

        if tag:
            if _rev(r, f"refs/tags/{tag}") is None or self.update:
                try:
                    fetch([*depth, "origin", f"+refs/tags/{tag}:refs/tags/{tag}"],
                          f"tag {tag}", "shallow" if depth else "full")
                except git.GitCommandError as exc:
                    msg = str(exc.stderr or exc).strip()
                    if re.search(r"couldn't find remote ref", msg, re.I):
                        raise InputError(f"Repo '{repo.id}': tag '{tag}' does not exist on {url}",
                                         "the server has no such tag (kas: \"Tag cannot be "
                                         "found\")", "Fix 'tag:' in the configuration")
                    raise self._fetch_error(repo, url, msg)
            return self._check_tag(r, repo, tag)

        if repo.commit:
            if _has_commit(r, repo.commit):
                res.fetch = "mirror" if res.fetch == "mirror" else "none"
            else:
                depth = self._fetch_commit(repo, url, branch, depth, fetch)
            if branch:
                self._verify_on_branch(r, repo, branch, url, depth, fetch)
            return repo.commit

        rref = f"refs/remotes/origin/{branch}"
        have = _rev(r, rref)
        if have and not self.update:
            return have      # kas: the branch exists locally, no fetch without --update
        try:
            fetch([*depth, "origin", f"+refs/heads/{branch}:{rref}"], f"branch {branch}",
                  "shallow" if depth else "full")
        except git.GitCommandError as exc:
            msg = str(exc.stderr or exc).strip()
            if re.search(r"couldn't find remote ref", msg, re.I):
                raise InputError(f"Repo '{repo.id}': branch '{branch}' does not exist on {url}",
                                 "the server has no such branch (kas: \"Branch cannot be "
                                 "found\")", "Fix 'branch:' in the configuration")
            raise self._fetch_error(repo, url, msg)
        sha = _rev(r, rref)
        if not sha:
            raise ProblemFound(f"Repo '{repo.id}': {rref} was not found on {url}",
                               "the branch does not exist on the server",
                               "Fix the branch in the configuration")
        return sha

    def _fetch_commit(self, repo: RepoSpec, url: str, branch: str | None, depth: list,
                      fetch) -> list:
        """Fetch the pinned commit (by id; the branch if the server refuses);
        returns the depth arguments still in force."""
        git = _git()
        label = repo.id
        try:
            if depth:
                args = [*depth, "origin", repo.commit]
            elif branch:
                args = ["origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}"]
            else:
                args = ["origin", "+refs/heads/*:refs/remotes/origin/*"]
            fetch(args, repo.commit[:12], "shallow" if depth else "full")
        except git.GitCommandError as exc:
            msg = str(exc.stderr or exc).strip()
            if not REFUSED.search(msg):
                raise self._fetch_error(repo, url, msg)
            self.say(f"{label}: the server refused a fetch by commit id "
                     f"({msg.splitlines()[-1].strip()}); fetching the full branch instead")
            depth = []
            try:
                refspec = f"+refs/heads/{branch}:refs/remotes/origin/{branch}" if branch \
                    else "+refs/heads/*:refs/remotes/origin/*"
                fetch(["origin", refspec], repo.commit[:12], "full")
            except git.GitCommandError as exc2:
                raise self._fetch_error(repo, url, str(exc2.stderr or exc2).strip())
        r = fetch.repo
        if not _has_commit(r, repo.commit):
            try:
                fetch(["origin", "+refs/heads/*:refs/remotes/origin/*",
                       "+refs/tags/*:refs/tags/*"], "all branches and tags", "full")
            except git.GitCommandError as exc3:
                raise self._fetch_error(repo, url, str(exc3.stderr or exc3).strip())
        if not _has_commit(r, repo.commit):
            raise ProblemFound(
                f"Repo '{repo.id}': commit {repo.commit} is not on the server {url}",
                "the fetch succeeded but did not bring the pinned commit "
                "(a rewritten branch, or a typo in the pin)",
                f"Check the pin in {repo.source or 'the configuration'} or run "
                "'armvm-oe lock --update'")
        return depth

    def _verify_on_branch(self, r, repo: RepoSpec, branch: str, url: str, depth: list,
                          fetch) -> None:
        """kas's "Branch does not contain commit" check, also in shallow
        clones: ``refs/remotes/origin/<branch>`` is set only to what the
        server's branch really is (its tip, or the pin when the pin is the
        tip), and the history between pin and tip is fetched (objects the pin
        does not have: small for a lock near the tip) to prove containment."""
        git = _git()
        rref = f"refs/remotes/origin/{branch}"
        if self._contains(r, rref, repo.commit):
            return
        mirror = self._mirrors_used.get(repo.id)
        if mirror is not None:
            # air-gapped: the mirror's branch stands for the server's, as in
            # kas's clone from KAS_REPO_REF_DIR (origin/<branch> = the mirror's)
            for ref in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"):
                mtip = _rev(git.Repo(mirror), ref)
                if mtip and (mtip == repo.commit or self._contains_sha(r, mtip, repo.commit)):
                    r.git.update_ref(rref, mtip)
                    return
        try:
            out = r.git.ls_remote("origin", f"refs/heads/{branch}")
        except git.GitCommandError as exc:
            raise self._fetch_error(repo, url, str(exc.stderr or exc).strip())
        tip = out.split()[0] if out.split() else None
        if tip is None:
            raise InputError(f"Repo '{repo.id}': branch '{branch}' does not exist on {url}",
                             "the server has no such branch (kas: \"Branch cannot be found\")",
                             "Fix 'branch:' in the configuration")
        if tip == repo.commit:
            r.git.update_ref(rref, tip)
            return
        args = ["origin", f"+refs/heads/{branch}:{rref}"]
        if depth:
            import datetime as _dt
            ts = int(r.git.show("-s", "--format=%ct", repo.commit).strip()) - 86400
            since = _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime(
                "%Y-%m-%d %H:%M:%S +0000")
            args = [f"--shallow-since={since}", *args]
        try:
            fetch(args, f"branch {branch} since {repo.commit[:12]}",
                  "shallow" if depth else "full")
        except git.GitCommandError as exc:
            msg = str(exc.stderr or exc).strip()
            # no commit of the branch is as new as the pin (a day's margin for
            # clock skew): the pin cannot be on it
            if "no commits selected for shallow requests" not in msg:
                raise self._fetch_error(repo, url, msg)
        if not self._contains(r, rref, repo.commit):
            raise InputError(
                f"Repo '{repo.id}': branch '{branch}' on {url} does not contain the pinned "
                f"commit {repo.commit}",
                "kas refuses this (\"Branch ... does not contain commit\"); the commit may be on "
                "another branch, or the branch was rewritten",
                f"Fix 'branch:' or 'commit:' in {repo.source or 'the configuration'} "
                "(or the lock file)")

    @staticmethod
    def _contains_sha(r, tip: str, sha: str) -> bool:
        git = _git()
        try:
            r.git.merge_base("--is-ancestor", sha, tip)
            return True
        except git.GitCommandError:
            return False

    @staticmethod
    def _contains(r, rref: str, sha: str) -> bool:
        """kas's ``git branch -r origin/<b> --contains <sha>`` (full clones)."""
        git = _git()
        tip = _rev(r, rref)
        if tip is None:
            return False
        try:
            r.git.merge_base("--is-ancestor", sha, tip)
            return True
        except git.GitCommandError:
            return False

    def _check_tag(self, r, repo: RepoSpec, tag: str) -> str:
        """kas's tag/commit agreement: the pinned commit must be the tag's
        commit or the id of its (annotated) tag object."""
        peeled = _rev(r, f"refs/tags/{tag}")
        if peeled is None:
            raise InputError(f"Repo '{repo.id}': tag '{tag}' was not found",
                             "kas: \"Tag cannot be found\"", "Fix 'tag:' in the configuration")
        if repo.commit and repo.commit != peeled:
            obj = r.git.rev_parse("--verify", "-q", f"refs/tags/{tag}").strip()
            if obj != repo.commit:
                raise InputError(
                    f"Repo '{repo.id}': tag '{tag}' is commit {peeled}, not the pinned "
                    f"commit {repo.commit}",
                    "the tag and the commit in the configuration disagree (kas: \"Provided tag "
                    "does not match provided commit\"); the tag was taken from the server "
                    "as it is", f"Fix 'tag:' or 'commit:' in {repo.source or 'the configuration'}"
                    " (or the lock file)")
        return peeled

    def _fetch_error(self, repo: RepoSpec, url: str, msg: str) -> InputError:
        last = " ".join(msg.split())[-600:] or "no message"
        return InputError(
            f"Cannot fetch repo '{repo.id}' from {url}",
            f"git said: {last}",
            "Check the URL and your network or proxy (git:// is blocked by many "
            "firewalls and disabled by GitHub and git.yoctoproject.org; use https), "
            "use --mirror-dir for air-gapped sites, and run 'armvm-oe doctor' to "
            "diagnose the host", check_id=None)

    # -- refs and the checkout ------------------------------------------------
    def set_refs(self, r, repo: RepoSpec, sha: str, url: str, fresh: bool = False,
                 force: bool = False) -> None:
        """The refs kas expects, then check out ``sha``."""
        if not fresh:
            self._config_origin(r, url)
        extra = ["-f"] if force else []
        if repo.branch:
            b = _strip_heads(repo.branch)
            rref = f"refs/remotes/origin/{b}"
            cur = _read_ref(Path(r.git_dir), rref) or _rev(r, rref)
            if cur is None or (cur != sha and not self._contains(r, rref, sha)):
                # shallow: the newest commit known to be on the branch is the pin
                r.git.update_ref(rref, sha)
            if repo.branch.startswith("refs/"):
                # kas 5.5 keeps an absolute branch as origin/<branch minus 'refs/'>
                # (origin/heads/<b>) and fetches whenever that ref is missing
                r.git.update_ref(f"refs/remotes/origin/{repo.branch[len('refs/'):]}",
                                 _read_ref(Path(r.git_dir), rref) or _rev(r, rref))
            r.git.checkout("-q", *extra, "-B", b, f"{sha}^{{commit}}")
        else:
            r.git.checkout("-q", *extra, "--detach", f"{sha}^{{commit}}")

    @staticmethod
    def _config_origin(r, url: str) -> None:
        with r.config_writer() as cw:
            if cw.has_option('remote "origin"', "url") and \
                    cw.get_value('remote "origin"', "url") == url and \
                    cw.has_option('remote "origin"', "fetch"):
                return
            cw.set_value('remote "origin"', "url", url)
            if not cw.has_option('remote "origin"', "fetch"):
                cw.set_value('remote "origin"', "fetch", "+refs/heads/*:refs/remotes/origin/*")

    def _fill_ref_dir(self, repo: RepoSpec, url: str) -> None:
        """kas with KAS_REPO_REF_DIR: a full bare clone ``<dir>/<qualified
        name>`` made once (in a temp dir, renamed), then used as reference."""
        if not self.ref_dir:
            return
        sdir = self.ref_dir / qualified_name(repo.url)
        if sdir.exists():
            return
        git = _git()
        self.ref_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=qualified_name(repo.url) + ".", dir=self.ref_dir))
        try:
            self.say(f"{repo.id}: filling KAS_REPO_REF_DIR: full bare clone into {sdir}")
            git.Git().clone("-q", "--bare", "--", url, str(tmp))
            try:
                os.rename(tmp, sdir)
            except OSError:
                pass  # another instance was faster, as in kas
        except git.GitCommandError as exc:
            raise self._fetch_error(repo, url, str(exc.stderr or exc).strip())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _clone(self, repo: RepoSpec, project: KasProject) -> RepoResult:
        git = _git()
        url = effective_url(repo.url)
        res = RepoResult(repo.id, str(repo.path), "cloned", pinned=repo.pin)
        self._fill_ref_dir(repo, url)
        tmp = repo.path.parent / f".{repo.path.name}{PARTIAL}{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            r = git.Repo.init(tmp)
            with r.config_writer() as cw:
                cw.set_value('remote "origin"', "url", url)
                cw.set_value('remote "origin"', "fetch", "+refs/heads/*:refs/remotes/origin/*")
            mirror = find_mirror(repo, self.mirror_dirs)
            if mirror:
                alt = _objects_dir(tmp) / "info" / "alternates"
                alt.parent.mkdir(parents=True, exist_ok=True)
                alt.write_text(str(_objects_dir(mirror).resolve()) + "\n")
                res.fetch = "mirror"
                self._mirrors_used[repo.id] = mirror
                self.say(f"{repo.id}: using mirror {mirror}")
                if repo.tag_name and _rev(git.Repo(mirror), f"refs/tags/{repo.tag_name}") \
                        and not _rev(r, f"refs/tags/{repo.tag_name}"):
                    # the mirror's tag, as kas's clone from the reference has it
                    r.git.fetch("-q", "--no-tags", str(mirror),
                                f"+refs/tags/{repo.tag_name}:refs/tags/{repo.tag_name}")
            sha = self.fetch_pin(r, repo, url, res, tmp, new=True)
            self.set_refs(r, repo, sha, url, fresh=True)
            if read_head(tmp) != sha:  # pragma: no cover - git guarantees it
                raise ProblemFound(f"Repo '{repo.id}': HEAD is not {sha} after checkout")
            r.close()
            os.rename(tmp, repo.path)   # the only step that makes it visible
            _fsync_dir(repo.path.parent)
        except git.GitCommandError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ProblemFound(f"Repo '{repo.id}': git failed while cloning into {repo.path}",
                               f"git said: {' '.join(str(exc.stderr or exc).split())[-500:]}",
                               "Run the command again; if it repeats, run 'armvm-oe doctor'")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        res.commit = sha
        self.say(f"{repo.id}: checked out {sha[:12]}"
                 f"{' on ' + _strip_heads(repo.branch) if repo.branch else ''} in {repo.path}"
                 f" ({res.fetch} fetch, {res.objects} objects, {_human(res.bytes)})")
        return res


def init_script_repo(project: KasProject) -> RepoSpec:
    """kas's SetupEnviron: exactly one repo must hold the init script
    (``oe-init-build-env``; ``isar-init-build-env`` for isar), else kas
    checkout stops before writing the build configuration."""
    bs = project.config.get("build_system", "openembedded")
    script = "isar-init-build-env" if str(bs).startswith("isar") else "oe-init-build-env"
    found = [r for r in project.repos if (r.path / script).exists()]
    if len(found) > 1:
        raise InputError(f"Several repos hold {script}: "
                         f"{', '.join(r.id for r in found)}",
                         "kas stops here (\"Multiple init scripts found ... Resolve ambiguity by "
                         "removing one of the repos\")", "Remove one of the repos")
    if not found:
        raise InputError(f"No repo of the configuration holds {script}",
                         "kas stops here (\"Did not find any init-build-env script\"): "
                         "without it there is no build environment",
                         "Add the repo that provides it (poky or openembedded-core)")
    return found[0]


def write_bbconfig(project: KasProject) -> list[Path]:
    """kas checkout's last step (WriteBBConfig): ``<build>/conf/bblayers.conf``
    and ``local.conf`` with the same bytes kas writes."""
    from armvm_oe.kasconfig import bblayers_conf_text, local_conf_text
    from armvm_oe.lib import atomic_write
    conf = project.build_dir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    out = []
    for name, text in (("bblayers.conf", bblayers_conf_text(project)),
                       ("local.conf", local_conf_text(project))):
        atomic_write(conf / name, text)
        out.append(conf / name)
    return out
