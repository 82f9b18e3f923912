"""kas checks: the configuration loads with the installed kas's schema and
header-version range (via armvm_oe.kasconfig, the one kas reader)."""

from __future__ import annotations

from armvm_oe.doctor import facts
from armvm_oe.doctor.model import Context, Problem
from armvm_oe.doctor.registry import check


def _error(ctx: Context):
    if not ctx.kas_config:
        return None
    facts.project(ctx)
    return ctx.cache.get("project_error")


def _kind(exc) -> str:
    text = " ".join(str(x or "") for x in (getattr(exc, "what", exc), getattr(exc, "why", "")))
    if "header version" in text:
        return "header"
    if "not valid YAML" in text:
        return "yaml"
    if "does not exist" in text and "kas configuration" in text and "included" not in text:
        return "missing"
    return "schema"


def _problem(exc) -> Problem:
    para = exc.paragraph() if hasattr(exc, "paragraph") else str(exc)
    return Problem(para, fix=getattr(exc, "fix", None))


@check("kas.schema", "the kas configuration is valid for the installed kas", "fatal",
       "Config file validation Error: ... / Error(s) occured while validating the config file",
       "Fix the entry named in the message (the allowed keys are in kas's documentation)")
def schema(ctx: Context):
    exc = _error(ctx)
    return _problem(exc) if exc is not None and _kind(exc) == "schema" else None


@check("kas.header-version", "the config's header version is supported by the installed kas",
       "fatal",
       "This version of kas is compatible with version %s to %s, file has version %s",
       "Install the kas pinned by armvm-oe (pip install -e .), or lower header: version:")
def header_version(ctx: Context):
    exc = _error(ctx)
    return _problem(exc) if exc is not None and _kind(exc) == "header" else None


@check("kas.yaml", "the kas configuration is valid YAML", "fatal",
       "Configuration file is not valid YAML: Error in line %s",
       "Fix the indentation or quoting on that line (spaces, not tabs)")
def yaml_valid(ctx: Context):
    exc = _error(ctx)
    return _problem(exc) if exc is not None and _kind(exc) == "yaml" else None


@check("kas.config-missing", "the kas configuration file exists", "fatal",
       "configuration file '%s' not found",
       "Pass the right path, e.g. kas/armvm-aarch64.yml")
def config_missing(ctx: Context):
    exc = _error(ctx)
    if exc is None or _kind(exc) != "missing":
        return None
    p = _problem(exc)
    p.path = str(ctx.kas_config)          # fills the '%s' of the error text
    return p


@check("kas.installed", "the kas command is on PATH", "fatal",
       "kas: command not found",
       "Install armvm-oe with its dependencies (pip install -e .), which pins kas")
def kas_installed(ctx: Context):
    if not ctx.kas_config or facts.which(ctx, "kas"):
        return None
    return Problem("kas is not on PATH, so the build cannot run it",
                   commands=["python3 -m pip install 'kas==5.5'"])
