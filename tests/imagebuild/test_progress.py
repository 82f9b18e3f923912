"""The knotty progress parser against bitbake's real output formats (bitbake
2.8: lib/bb/ui/knotty.py, lib/bb/runqueue.py; oe-core sstate.bbclass and the
Build Configuration banner) as they arrive through kas (logging prefix)."""

from armvm_oe.imagebuild.progress import BuildProgress, parse_line, short_task

KAS = "2026-11-21 17:25:44 - INFO     - "
RECIPE = "/work/poky/meta/recipes-core/glibc/glibc_2.39.bb"

# A real-shaped scarthgap build, as kas forwards it when stdout is not a TTY.
SESSION = [
    "2026-11-21 17:25:30 - INFO     - kas 5.5 started on Debian GNU/Linux bookworm",
    KAS + "Loading cache...done.",
    KAS + "Parsing of 921 .bb files complete (0 cached, 921 parsed). 1880 targets, 62 "
          "skipped, 0 masked, 0 errors.",
    KAS + "Build Configuration:",
    KAS + 'BB_VERSION           = "2.8.1"',
    KAS + 'MACHINE              = "armvm-aarch64"',
    KAS + "Sstate summary: Wanted 1734 Local 0 Mirrors 1200 Missed 534 Current 300 "
          "(69% match, 75% complete)",
    KAS + f"NOTE: Running setscene task 1 of 1200 ({RECIPE}:do_populate_sysroot_setscene)",
    KAS + f"NOTE: Running setscene task 1200 of 1200 ({RECIPE}:do_package_write_rpm_setscene)",
    KAS + f"NOTE: Running task 1 of 3900 ({RECIPE}:do_fetch)",
    KAS + f"NOTE: Running noexec task 1950 of 3900 ({RECIPE}:do_build)",
    KAS + "NOTE: Tasks Summary: Attempted 3900 tasks of which 3366 didn't need to be rerun "
          "and all succeeded.",
]


def test_task_lines():
    ev = parse_line(f"NOTE: Running task 17 of 3900 ({RECIPE}:do_compile)")
    assert (ev.kind, ev.current, ev.total, ev.task) == ("task", 17, 3900, f"{RECIPE}:do_compile")
    assert ev.values == (False,)
    ev = parse_line(f"NOTE: Running noexec task 5 of 10 ({RECIPE}:do_build)")
    assert ev.kind == "task" and ev.values == (True,)
    ev = parse_line(f"NOTE: Running setscene task 3 of 120 ({RECIPE}:do_deploy_setscene)")
    assert (ev.kind, ev.current, ev.total) == ("setscene", 3, 120)


def test_footer_lines_interactive_knotty():
    # knotty's footer: "Currently %2s running tasks (%s)" pads to two columns
    ev = parse_line("Currently  4 running tasks (123 of 3900)")
    assert (ev.kind, ev.running, ev.current, ev.total) == ("current", 4, 123, 3900)
    ev = parse_line("Currently 16 running tasks (2000 of 3900)")
    assert ev.running == 16
    ev = parse_line("No currently running tasks (3900 of 3900)")
    assert (ev.running, ev.current) == (0, 3900)
    ev = parse_line("Setscene tasks: 1200 of 1200")
    assert (ev.kind, ev.current, ev.total) == ("footer-setscene", 1200, 1200)
    ev = parse_line("Running tasks (10 of 20, 30 of 40)")   # knotty --quiet
    assert (ev.current, ev.total, ev.values) == (30, 40, (10, 20))


def test_summaries():
    ev = parse_line("NOTE: Tasks Summary: Attempted 4567 tasks of which 4500 didn't need to be "
                    "rerun and all succeeded.")
    assert ev.kind == "summary" and ev.values == (4567, 4500, 0)
    ev = parse_line("NOTE: Tasks Summary: Attempted 100 tasks of which 90 didn't need to be "
                    "rerun and 1 failed.")
    assert ev.values == (100, 90, 1)
    ev = parse_line("Sstate summary: Wanted 12 Local 8 Mirrors 0 Missed 4 Current 40 "
                    "(66% match, 92% complete)")
    assert ev.kind == "sstate" and ev.values == (12, 8, 0, 4, 40, 66, 92)
    assert parse_line("Summary: 1 task failed:").kind == "failed-summary"
    assert parse_line("Summary: 2 tasks failed:").current == 2


def test_errors():
    ev = parse_line("ERROR: glibc-2.39+git-r0 do_fetch: Fetcher failure for URL: "
                    "'https://x.invalid/a.tar.gz'. Unable to fetch URL from any source.")
    assert ev.kind == "error" and ev.text.startswith("glibc-2.39+git-r0 do_fetch: Fetcher")
    ev = parse_line(f"ERROR: Task ({RECIPE}:do_fetch) failed with exit code '1'")
    assert ev.kind == "task-failed" and ev.task == f"{RECIPE}:do_fetch" and ev.values == (1,)


def test_noise_and_decoration():
    for line in ("", "Loading cache...done.", "NOTE: Executing Tasks",
                 "NOTE: recipe glibc-2.39+git-r0: task do_fetch: Started",
                 "WARNING: something", "Initialising tasks...done.", "random text"):
        assert parse_line(line) is None, line
    # colour and carriage-return redraws from a TTY capture
    ev = parse_line(f"\x1b[1mNOTE: Running task 2 of 9 ({RECIPE}:do_unpack)\x1b[0m")
    assert ev.current == 2
    ev = parse_line(f"junk\rNOTE: Running task 3 of 9 ({RECIPE}:do_patch)\r\n")
    assert ev.current == 3


def test_session_state():
    p = BuildProgress()
    seen = []
    for line in SESSION:
        p.feed(line)
        seen.append(p.bar_position())
    assert p.kas_version == "5.5"
    assert p.bitbake_version == "2.8.1"
    assert p.build_config["MACHINE"] == "armvm-aarch64"
    assert p.sstate["mirrors"] == 1200 and p.sstate["match_pct"] == 69
    assert ("setscene", 1200, 1200) in seen
    assert ("tasks", 1950, 3900) in seen
    assert p.summary == {"attempted": 3900, "not_rerun": 3366, "failed": 0, "succeeded": True}
    assert p.phase == "done" and p.describe().startswith("tasks 1950 of 3900 (50%")


def test_failed_session():
    p = BuildProgress()
    for line in ["NOTE: Running task 1 of 2 (/a/foo_1.0.bb:do_fetch)",
                 "ERROR: foo-1.0-r0 do_fetch: Fetcher failure for URL: 'http://x'.",
                 "ERROR: Task (/a/foo_1.0.bb:do_fetch) failed with exit code '1'",
                 "NOTE: Tasks Summary: Attempted 1 tasks of which 0 didn't need to be rerun "
                 "and 1 failed."]:
        p.feed(line)
    assert p.failed_tasks == ["/a/foo_1.0.bb:do_fetch"]
    assert len(p.errors) == 2 and p.summary["succeeded"] is False


def test_short_task():
    assert short_task(f"{RECIPE}:do_compile") == "glibc do_compile"
    assert short_task("mc:x:/a/b/linux-yocto_6.6.bb:do_kernel_configme") == \
        "linux-yocto do_kernel_configme"
    assert short_task(None) == ""
