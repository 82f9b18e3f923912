"""Kernel configuration: parse a ``.config``, pull the embedded IKCONFIG out
of a kernel image, and audit it against the spec's requirement table.

    from armvm_oe import kconfig
    cfg = kconfig.parse_config(open(".config").read())     # KConfig (dict-like)
    cfg["XEN"]                       # 'y' | 'm' | 'n' | '"string"' | None (absent)
    cfg = kconfig.from_kernel(open("zImage", "rb").read()) # IKCONFIG or None
    info = kconfig.inspect_kernel(blob)                   # .config_text, .release, .compression
    for f in kconfig.audit(cfg, "aarch64"):               # one OptionFinding per (req, option)
        print(f.req_id, f.option, f.value, f.result, f.reason)
    kconfig.missing(cfg, "arm", "XEN")  # -> ["CONFIG_XEN"] when XEN is not y/m

The requirements come from :mod:`armvm_oe.requirements` (never copied).
An option required by a "must" requirement that is unset gives ``fail``; by a
"should" requirement ``warn``. ``=m`` satisfies options marked ``module_ok``
(the spec allows the driver in the initramfs) with a note, and is otherwise
reported like an unset option ("built as a module, needed built in").
"""

from __future__ import annotations

import bz2
import lzma
import re
import zlib
from dataclasses import dataclass
from typing import Iterator, Mapping

from armvm_oe import requirements

IKCFG_ST = b"IKCFG_ST"
IKCFG_ED = b"IKCFG_ED"
MAX_OUTPUT = 256 << 20        # never decompress more than this from one payload
MAX_CANDIDATES = 24           # compressed-payload guesses tried per image
MAX_IKCONFIG_TRIES = 16       # IKCFG_ST markers followed by a gzip header tried
MAX_RATIO = 32                # a kernel payload expands ~3-5x; zero bombs far more
TOTAL_OUTPUT = 128 << 20      # decompressed across all payload guesses of one kernel
# bzip2 costs ~35 ns per non-zero output byte whatever the data (issue 16,
# armvm_oe/image/source.py): its guesses share a smaller budget (~0.8 s); a
# bzip2 kernel payload is < 20 MiB unpacked (arm zImage)
BZIP2_OUTPUT = 24 << 20
_LINE = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")
_RELEASE = re.compile(rb"Linux version (\S+) \(")

# (magic, name); lzma-alone has a weak 3-byte magic and is tried last.
PAYLOAD_MAGIC = (
    (b"\x1f\x8b\x08", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
)


class KConfig(dict):
    """CONFIG_ name (without prefix) -> value; ``# ... is not set`` -> 'n'."""

    source: str = ""

    def value(self, name: str) -> str:
        """'y', 'm', a string/int value, or 'n' when unset or absent."""
        return self.get(name.removeprefix("CONFIG_"), "n")


def parse_config(text: str, source: str = "") -> KConfig:
    cfg = KConfig()
    cfg.source = source
    for line in text.splitlines():
        line = line.strip()
        m = _LINE.match(line)
        if m:
            cfg[m.group(1)] = m.group(2)
            continue
        m = _UNSET.match(line)
        if m:
            cfg[m.group(1)] = "n"
    return cfg


def looks_like_config(data: bytes) -> bool:
    head = data[:65536]
    return b"CONFIG_" in head and (b"\nCONFIG_" in head or head.startswith(b"CONFIG_")
                                   or b"# CONFIG_" in head) and b"\0" not in head


@dataclass
class KernelInfo:
    config_text: str | None = None
    release: str | None = None
    compression: str | None = None     # None: uncompressed; else the payload's format
    note: str = ""


def _decompress(data: bytes, fmt: str, limit: int = MAX_OUTPUT) -> bytes:
    """Decompress one stream starting at data[0]; trailing data is ignored;
    output is capped at ``limit``. Raises on garbage."""
    if fmt == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data, limit)
        return out
    if fmt in ("xz", "lzma"):
        d = lzma.LZMADecompressor(lzma.FORMAT_XZ if fmt == "xz" else lzma.FORMAT_ALONE)
        return d.decompress(data, max_length=limit)
    if fmt == "bzip2":
        d = bz2.BZ2Decompressor()
        return d.decompress(data, max_length=limit)
    if fmt == "zstd":
        import zstandard
        d = zstandard.ZstdDecompressor(max_window_size=1 << 27)
        out = []
        total = 0
        with d.stream_reader(data, read_size=1 << 16) as r:     # bounded output per read
            while total < limit:
                try:
                    piece = r.read(min(1 << 20, limit - total))
                except zstandard.ZstdError:
                    if out:          # trailing data after the frame (the piggy's size word)
                        break
                    raise
                if not piece:
                    break
                out.append(piece)
                total += len(piece)
        return b"".join(out)
    raise ValueError(fmt)


def _ikconfig(blob: bytes) -> str | None:
    """IKCONFIG: the gzip stream right after an ``IKCFG_ST`` marker. Linear:
    markers are found with one forward scan, only markers followed by a gzip
    header are tried (at most MAX_IKCONFIG_TRIES), the payload is a
    memoryview (never a copy of the rest of the kernel)."""
    view = memoryview(blob)
    start = blob.find(IKCFG_ST)
    tries = 0
    while start >= 0 and tries < MAX_IKCONFIG_TRIES:
        p = start + len(IKCFG_ST)
        if blob[p:p + 3] == b"\x1f\x8b\x08":
            tries += 1
            try:
                text = _decompress(view[p:], "gzip", 16 << 20)
                if b"CONFIG_" in text:
                    return text.decode("utf-8", "replace")
            except (zlib.error, ValueError):
                pass
        start = blob.find(IKCFG_ST, p)
    return None


def _candidates(blob: bytes) -> Iterator[tuple[int, str]]:
    found = []
    for magic, fmt in PAYLOAD_MAGIC:
        pos = blob.find(magic)
        n = 0
        while pos >= 0 and n < MAX_CANDIDATES:
            found.append((fmt == "lzma", pos, fmt))
            pos = blob.find(magic, pos + 1)
            n += 1
    for _, pos, fmt in sorted(found)[:MAX_CANDIDATES]:
        yield pos, fmt


def inspect_kernel(blob: bytes, max_output: int = MAX_OUTPUT) -> KernelInfo:
    """Find IKCONFIG and the release in an Image, zImage, vmlinuz.efi (zboot)
    or vmlinux: directly, else inside its compressed payload (gzip, xz, lzma,
    zstd, bzip2; lzo/lz4 are reported as not readable). Bounded: at most
    ``MAX_CANDIDATES`` payload guesses and ``max_output`` bytes each."""
    info = KernelInfo()
    info.config_text = _ikconfig(blob)
    m = _RELEASE.search(blob)
    if m:
        info.release = m.group(1).decode("ascii", "replace")
    wrapped = (len(blob) >= 0x28 and blob[0x24:0x28] == b"\x18\x28\x6f\x01") \
        or blob[4:8] == b"zimg"          # ARM zImage / EFI zboot: the kernel is inside
    if info.config_text or (info.release and not wrapped):
        return info                     # an uncompressed kernel: nothing more inside
    view = memoryview(blob)
    budget = TOTAL_OUTPUT
    bz2_budget = BZIP2_OUTPUT
    for pos, fmt in _candidates(blob):
        limit = min(max_output, budget, max(16 << 20, MAX_RATIO * (len(blob) - pos)))
        if fmt == "bzip2":
            if bz2_budget <= 0:
                continue
            limit = min(limit, bz2_budget)
        if limit <= 0:
            info.note = "the payload guesses used up the decompression budget"
            return info
        try:
            inner = _decompress(view[pos:], fmt, limit)
        except Exception:  # noqa: BLE001 - a false magic match is expected
            continue
        budget -= len(inner)
        if fmt == "bzip2":
            bz2_budget -= len(inner)
        if len(inner) < 4096:
            continue
        text = _ikconfig(inner)
        m = _RELEASE.search(inner)
        if text or m:
            info.compression = fmt
            info.config_text = text
            info.release = m.group(1).decode("ascii", "replace") if m else None
            return info
    if blob.find(b"\x89LZO") >= 0 or blob.find(b"\x02\x21\x4c\x18") >= 0:
        info.note = "the kernel payload looks lzo/lz4-compressed, which verify cannot read"
    else:
        info.note = "no kernel payload found (not a Linux Image/zImage?)"
    return info


def from_kernel(blob: bytes) -> KConfig | None:
    text = inspect_kernel(blob).config_text
    return parse_config(text, "IKCONFIG") if text else None


# -- audit --------------------------------------------------------------------

@dataclass
class OptionFinding:
    req_id: str
    level: str          # must | should
    option: str         # CONFIG_ name with prefix
    value: str          # y | m | n | other
    result: str         # pass | fail | warn
    reason: str
    fix: str

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def audit(config: Mapping[str, str], arch: str) -> list[OptionFinding]:
    """One finding per (requirement, option) pair the spec asks of ``arch``'s kernel."""
    out = []
    for req, opt in requirements.kernel_requirements(arch):
        raw = config.get(opt.name, "n")
        value = raw if raw in ("y", "m", "n") else ("y" if raw not in ("", '""') else "n")
        name = f"CONFIG_{opt.name}"
        bad = "fail" if req.level == requirements.MUST else "warn"
        if value == "y":
            out.append(OptionFinding(req.id, req.level, name, raw, "pass", f"{name}={raw}", ""))
        elif value == "m" and opt.module_ok:
            out.append(OptionFinding(
                req.id, req.level, name, "m", "pass",
                f"{name}=m: a module, allowed (the spec accepts the driver in the initramfs); "
                "the initramfs must carry and load it", ""))
        elif value == "m":
            out.append(OptionFinding(
                req.id, req.level, name, "m", bad,
                f"{name}=m but {req.id} needs it built in (it is needed before any module "
                "can load)", f"Set {name}=y in the kernel configuration (a fragment)"))
        else:
            out.append(OptionFinding(
                req.id, req.level, name, "n", bad, f"{name} is not set",
                f"Enable {name}=y in the kernel configuration (a kernel config fragment; "
                "meta-armvm's armvm-guest.cfg does this)"))
    return out


def missing(config: Mapping[str, str], arch: str, *names: str) -> list[str]:
    """CONFIG_ names among ``names`` (or all required for ``arch`` when none
    given) that are neither y nor m."""
    want = [n.removeprefix("CONFIG_") for n in names] or requirements.kernel_options(arch)
    return [f"CONFIG_{n}" for n in want if config.get(n, "n") not in ("y", "m")]
