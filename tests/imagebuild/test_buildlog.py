"""The build report's own reading of bitbake's log (pure): the sanity
checker's list read whole, the failed tasks' own errors. The texts are real
output: the sanity block as sanity.bbclass's raise_sanity_error prints it
(captured from a real container build whose DL_DIR/SSTATE_DIR were the
image's), the task lines from a real offline build of armvm-image."""

from __future__ import annotations

from armvm_oe.imagebuild.buildlog import sanity_findings, sanity_list, task_errors
from armvm_oe.imagebuild.progress import BuildProgress

KAS = "2026-12-01 12:23:26 - ERROR    - "

SANITY = """\
NOTE: Started PRServer with DBfile: /work/build/cache/prserv.sqlite3, Address: 127.0.0.1:40459, PID: 95
ERROR:  OE-core's config sanity checker detected a potential misconfiguration.
    Either fix the cause of this error or at your own risk disable the checker (see sanity.conf).
    Following is the list of potential problems / advisories:

    Fetcher failure for URL: 'https://yoctoproject.org/connectivity.html'. URL doesn't work.
Please ensure your host's network is configured correctly.
DL_DIR: /downloads exists but you do not appear to have write access to it.
Failed to create a file in SSTATE_DIR: Permission denied


Summary: There was 1 ERROR message, returning a non-zero exit code.
"""

TASKS = [
    KAS + "NOTE: Running task 9 of 3980 (/work/build/../poky/meta/recipes-devtools/quilt/"
    "quilt-native_0.67.bb:do_fetch)",
    KAS + "ERROR: gnu-config-native-20240101+git-r0 do_fetch: Bitbake Fetcher Error: "
    "NetworkAccess('git://git.savannah.gnu.org/git/config.git;protocol=https;branch=master', "
    "'LANG=C git -c gc.autoDetach=false -c core.pager=cat -c safe.bareRepository=all clone "
    "--bare --mirror https://git.savannah.gnu.org/git/config.git "
    "/downloads/git2/git.savannah.gnu.org.git.config.git --progress')",
    KAS + "ERROR: Logfile of failure stored in: /work/build/tmp/work/x86_64-linux/"
    "gnu-config-native/20240101+git/temp/log.do_fetch.195",
    KAS + "ERROR: Task (virtual:native:/work/build/../poky/meta/recipes-devtools/gnu-config/"
    "gnu-config_git.bb:do_fetch) failed with exit code '1'",
    KAS + "ERROR: quilt-native-0.67-r0 do_fetch: Bitbake Fetcher Error: NetworkAccess("
    "'https://download.savannah.gnu.org/releases/quilt/quilt-0.67.tar.gz', \"/usr/bin/env "
    "wget -t 2 -T 100 -O /downloads/quilt-0.67.tar.gz.tmp -P /downloads "
    "'https://download.savannah.gnu.org/releases/quilt/quilt-0.67.tar.gz'\")",
    KAS + "ERROR: Task (/work/build/../poky/meta/recipes-devtools/quilt/quilt-native_0.67.bb:"
    "do_fetch) failed with exit code '1'",
    "2026-12-01 12:23:28 - INFO     - NOTE: Tasks Summary: Attempted 12 tasks of which 9 "
    "didn't need to be rerun and 2 failed.",
    '2026-12-01 12:23:28 - ERROR    - Command "/work/build$ /work/poky/bitbake/bin/bitbake -c '
    'build armvm-image" failed:',
    "ERROR: gnu-config-native-20240101+git-r0 do_fetch: Bitbake Fetcher Error: NetworkAccess("
    "'git://git.savannah.gnu.org/git/config.git;protocol=https;branch=master', 'x')",
    "ERROR: Task (virtual:native:/work/build/../poky/meta/recipes-devtools/gnu-config/"
    "gnu-config_git.bb:do_fetch) failed with exit code '1'",
]


def test_every_line_of_the_sanity_list_is_a_finding():
    items = [s for _n, s in sanity_list(SANITY)]
    assert items == [
        "Fetcher failure for URL: 'https://yoctoproject.org/connectivity.html'. URL doesn't work.",
        "Please ensure your host's network is configured correctly.",
        "DL_DIR: /downloads exists but you do not appear to have write access to it.",
        "Failed to create a file in SSTATE_DIR: Permission denied"]
    found = sanity_findings(SANITY)
    assert len(found) == 4
    # the caller's own causes first (the connectivity check is only a symptom offline)
    assert [f.check for f in found[:2]] == ["build.cache-dir-writable"] * 2
    assert "DL_DIR: /downloads" in found[0].cause and "SSTATE_DIR" in found[1].cause
    assert {f.check for f in found[2:]} == {"log.network"}
    assert found[0].line_no == 8 and found[1].line_no == 9


# real: kas 5.5 running bitbake 2.8 in the build container as uid 1001, DL_DIR
# and SSTATE_DIR left at the image's /downloads and /sstate (issue 13's failure 2)
SANITY_KAS = '2026-12-01 12:24:18 - INFO     - Repository poky checked out to 72983ac391008ebceb45edc7a8f0f6d5f4fe715c\n2026-12-01 12:24:20 - ERROR    - ERROR:  OE-core\'s config sanity checker detected a potential misconfiguration.\n2026-12-01 12:24:20 - ERROR    - Either fix the cause of this error or at your own risk disable the checker (see sanity.conf).\n2026-12-01 12:24:20 - ERROR    - Following is the list of potential problems / advisories:\n2026-12-01 12:24:20 - ERROR    - \n2026-12-01 12:24:20 - ERROR    - DL_DIR: /downloads exists but you do not appear to have write access to it.\n2026-12-01 12:24:20 - ERROR    - Failed to create a file in SSTATE_DIR: Permission denied.\n2026-12-01 12:24:20 - ERROR    - You could try using /sstate in SSTATE_MIRRORS rather than as an SSTATE_CACHE.\n2026-12-01 12:24:20 - ERROR    - \n2026-12-01 12:24:20 - INFO     - \n2026-12-01 12:24:20 - INFO     - Summary: There was 1 ERROR message, returning a non-zero exit code.\n2026-12-01 12:24:21 - ERROR    - Command "/work/build-sanity$ /work/poky/bitbake/bin/bitbake -c build armvm-image" failed:\nERROR:  OE-core\'s config sanity checker detected a potential misconfiguration.\n    Either fix the cause of this error or at your own risk disable the checker (see sanity.conf).\n    Following is the list of potential problems / advisories:\n\n    DL_DIR: /downloads exists but you do not appear to have write access to it. \nFailed to create a file in SSTATE_DIR: Permission denied.\nYou could try using /sstate in SSTATE_MIRRORS rather than as an SSTATE_CACHE.\n2026-12-01 12:24:21 - ERROR    - Command "/work/poky/bitbake/bin/bitbake -c build armvm-image" failed with error 1\n'


def test_the_real_kas_block_every_problem_once():
    items = [s for _n, s in sanity_list(SANITY_KAS)]
    assert items == [
        "DL_DIR: /downloads exists but you do not appear to have write access to it.",
        "Failed to create a file in SSTATE_DIR: Permission denied.",
        "You could try using /sstate in SSTATE_MIRRORS rather than as an SSTATE_CACHE."]
    found = sanity_findings(SANITY_KAS)
    assert [f.check for f in found] == ["build.cache-dir-writable"] * 2 + [None]
    assert found[0].line_no == 6


# real: bitbake 2.18 / oe-core wrynose on meta-armvm's old layout (wic/ next
# to files/wic), `bitbake -e` through kas shell in the build container
SANITY_WRYNOSE = "2026-12-01 12:52:11 - INFO     - To start the default build, run: bitbake -c build armvm-image\nERROR:  OE-core's config sanity checker detected a potential misconfiguration.\n    Either fix the cause of this error or at your own risk disable the checker (see sanity.conf).\n    Following is the list of potential problems / advisories:\n\n    wic/wks files at /work/build-oldlayout/../../repo/meta-armvm/wic need to be moved to files/wic within the layer to be found/used\nwic/wks files at /work/build-oldlayout/../../repo/meta-armvm/wic need to be moved to files/wic within the layer to be found/used\n\n"


def test_wrynose_block_without_blank_line_each_problem_once():
    found = sanity_findings(SANITY_WRYNOSE)
    assert [f.line for f in found] == [
        "wic/wks files at /work/build-oldlayout/../../repo/meta-armvm/wic need to be moved to "
        "files/wic within the layer to be found/used"]
    assert found[0].check == "layer.wic-location"


def test_no_sanity_block_no_findings():
    assert sanity_list("\n".join(TASKS)) == []


def test_failed_tasks_counted_once_and_named_with_recipe_and_url():
    p = BuildProgress()
    for line in TASKS:
        p.feed(line)
    # kas repeats the failed command's output: not two more failures
    assert p.failed_tasks == [
        "virtual:native:/work/build/../poky/meta/recipes-devtools/gnu-config/gnu-config_git.bb:"
        "do_fetch",
        "/work/build/../poky/meta/recipes-devtools/quilt/quilt-native_0.67.bb:do_fetch"]
    assert p.summary == {"attempted": 12, "not_rerun": 9, "failed": 2, "succeeded": False}
    errs = task_errors("\n".join(TASKS), p.failed_tasks)
    assert [(e.recipe, e.task, e.url) for e in errs] == [
        ("gnu-config-native", "do_fetch",
         "git://git.savannah.gnu.org/git/config.git;protocol=https;branch=master"),
        ("quilt-native", "do_fetch",
         "https://download.savannah.gnu.org/releases/quilt/quilt-0.67.tar.gz")]
    assert errs[0].check == "log.no-network" and "BB_NO_NETWORK" in errs[0].cause
    assert errs[0].logfile.endswith("gnu-config-native/20240101+git/temp/log.do_fetch.195")
    assert errs[0].line_no == 2
