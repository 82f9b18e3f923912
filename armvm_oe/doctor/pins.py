"""Pin checks: how many Yocto point releases a configuration's pins are
behind the newest of their series. The tags come from the remotes (``git
ls-remote --tags``, bounded by the network timeout; with ``--network``), else
from what is known here: the checkout's own tags and the table armvm-oe ships
(armvm_oe/gitcheckout/pointrelease.py, the one place that reads them)."""

from __future__ import annotations

from pathlib import Path

from armvm_oe.doctor import facts
from armvm_oe.doctor.model import Context, Problem
from armvm_oe.doctor.registry import check
from armvm_oe.gitcheckout import pointrelease as PR


def _tags(ctx: Context, url: str | None, path: Path | None) -> tuple[dict, str]:
    """({tag: commit}, where they came from) for one repository."""
    if ctx.network and url:
        try:
            return PR.ls_remote_tags(url, ctx.thresholds.network_timeout, ctx.env), \
                f"the remote {url}"
        except PR.TagsUnavailable:
            pass
    known = PR.known_tags(url)
    local = PR.local_tags(path) if path is not None and (path / ".git").exists() else {}
    if local:
        return {**known, **local}, "the checkout's tags" + (" and armvm-oe's release table"
                                                             if known else "")
    return known, "armvm-oe's release table (run with --network to ask the remote)"


def pin_status(ctx: Context, repo) -> PR.PinStatus | None:
    """Where one repo's pin stands (memoised; None: not a Yocto release line)."""
    def _find():
        if not repo.commit or not repo.url:
            return None
        path = Path(repo.path) if repo.path else None
        tags, source = _tags(ctx, repo.url, path)
        poky = PR.is_poky(repo.url, repo.layers)
        base = None
        if not PR.tags_at(repo.commit, tags) and path is not None and (path / ".git").exists():
            series = PR.BRANCH_SERIES.get((repo.branch or "").replace("refs/heads/", ""))
            base = PR.describe(path, repo.commit, series) if series else None
        st = PR.status(repo.id, repo.commit, repo.branch, tags, source, poky=poky,
                       base_tag=base)
        if poky and st.series:
            # poky's releases end where its snapshot does; the release itself
            # lives on in openembedded-core: count against that
            oe_url = next(u for rid, u, _b, _l in PR.SPLIT_REPOS.get(
                st.series, PR.SPLIT_REPOS["5.0"]) if rid == "openembedded-core")
            oe_tags, oe_source = _tags(ctx, oe_url, None)
            rel = PR.releases(oe_tags, st.series)
            if rel and st.pinned_tag and (not st.newest_tag or
                                          rel[-1][0] > PR.parse_tag(st.newest_tag)[1]):
                pinned_n = PR.parse_tag(st.pinned_tag)[1]
                st.newest_tag, st.newest_commit = rel[-1][1], None
                st.behind = len({n for n, _t, _c in rel if n > pinned_n})
                st.source = f"openembedded-core per {oe_source}"
        return st
    return ctx.memo(f"pin:{repo.id}", _find)


@check("checkout.point-release", "pins are at the newest point release of their Yocto series",
       "warn",
       "(no error: the build succeeds on an old point release, without the CVE fixes of the "
       "newer ones)",
       "Move the pins to the newest point release and regenerate the locks: "
       "armvm-oe lock --update <config>")
def point_release(ctx: Context):
    proj = facts.project(ctx)
    if proj is None:
        return None
    out = []
    cfg = ctx.kas_config or "kas/armvm-aarch64.yml"
    for repo in proj.remote_repos:
        st = pin_status(ctx, repo)
        if st is None or not st.behind:
            continue
        at = f"at {st.pinned_tag}" if st.exact else f"after {st.pinned_tag}"
        msg = (f"repo '{repo.id}' is pinned {at} ({repo.commit[:12]}), {st.behind} point "
               f"release(s) behind {st.newest_tag}, the newest of Yocto {st.series} "
               f"(from {st.source})")
        if st.poky:
            msg += (". It is the combined poky repository; the newer point releases are "
                    "published in the split repositories: " + PR.split_layout(st.series)
                    + " (kas/include/armvm-common.yml is that layout)")
            out.append(Problem(msg, fix="Replace the poky repo by bitbake, openembedded-core "
                               "and meta-yocto (see kas/include/armvm-common.yml), then run "
                               f"armvm-oe lock --update {cfg}"))
        else:
            out.append(Problem(msg, commands=[f"armvm-oe lock --update {cfg}"]))
    return out
