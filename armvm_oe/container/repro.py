"""Reproducibility: compare two images built from the same inputs.

Two images are the same content when their layer digests (the ``diff_id``
of each layer, i.e. the sha256 of its uncompressed tar) are equal. When a
layer differs, both layer tars are read from ``docker save`` and compared
entry by entry (type, mode, owner, size, mtime, link target, xattrs and the
sha256 of the content), so the report names exactly which file differs and how.
"""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass, field

_FIELDS = ("type", "mode", "uid", "gid", "size", "mtime", "link", "sha256", "xattrs")


class _HashingReader:
    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()

    def read(self, n=-1):
        data = self.f.read(n)
        self.h.update(data)
        return data

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return "sha256:" + self.h.hexdigest()


def _entry(ti: tarfile.TarInfo, tar) -> dict:
    digest = None
    if ti.isreg():
        h = hashlib.sha256()
        f = tar.extractfile(ti)
        while block := f.read(1 << 20):
            h.update(block)
        digest = h.hexdigest()
    xattrs = {k: v for k, v in (ti.pax_headers or {}).items() if k.startswith("SCHILY.xattr.")}
    return {"type": ti.type.decode() if isinstance(ti.type, bytes) else str(ti.type),
            "mode": oct(ti.mode), "uid": ti.uid, "gid": ti.gid,
            "size": ti.size if ti.isreg() else 0, "mtime": int(ti.mtime),
            "link": ti.linkname or "", "sha256": digest, "xattrs": xattrs}


def layer_manifests(client, ref: str, want: set[str] | None = None) -> dict[str, dict[str, dict]]:
    """diff_id -> {path: entry} for the layers of image ``ref`` (only those in
    ``want``, if given). Reads the image through ``docker save`` as a stream."""
    image = client.images.get(ref)
    raw = _StreamFile(image.save(named=False))
    out: dict[str, dict[str, dict]] = {}
    with tarfile.open(fileobj=raw, mode="r|") as outer:
        for member in outer:
            if not (member.isreg() and member.name.endswith("layer.tar")):
                continue
            reader = _HashingReader(outer.extractfile(member))
            entries: dict[str, dict] = {}
            with tarfile.open(fileobj=reader, mode="r|") as inner:
                for ti in inner:
                    entries[ti.name.rstrip("/")] = _entry(ti, inner)
            diff_id = reader.drain()
            if want is None or diff_id in want:
                out[diff_id] = entries
    return out


class _StreamFile:
    """A file-like view of an iterator of bytes chunks (docker save output)."""

    def __init__(self, chunks):
        self.it = iter(chunks)
        self.buf = b""

    def read(self, n=-1):
        while n < 0 or len(self.buf) < n:
            try:
                self.buf += next(self.it)
            except StopIteration:
                break
        if n < 0:
            data, self.buf = self.buf, b""
        else:
            data, self.buf = self.buf[:n], self.buf[n:]
        return data


@dataclass
class FileDiff:
    path: str
    change: str                      # "only in first", "only in second", "differs"
    fields: dict = field(default_factory=dict)   # field -> (first, second)

    def describe(self) -> str:
        if self.change != "differs":
            return f"{self.path}: {self.change}"
        parts = []
        for k, (a, b) in self.fields.items():
            if k == "sha256":
                parts.append("content differs")
            else:
                parts.append(f"{k} {a} != {b}")
        return f"{self.path}: " + ", ".join(parts)


@dataclass
class LayerResult:
    index: int
    first: str
    second: str
    files: list[FileDiff] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return self.first == self.second


@dataclass
class Report:
    first: str
    second: str
    layers: list[LayerResult]

    @property
    def identical(self) -> bool:
        return len(self.layers) > 0 and all(lr.same for lr in self.layers)

    def as_dict(self) -> dict:
        return {"first": self.first, "second": self.second, "identical": self.identical,
                "layers": [{"index": lr.index, "first": lr.first, "second": lr.second,
                            "same": lr.same,
                            "files": [{"path": f.path, "change": f.change,
                                       "fields": {k: list(v) for k, v in f.fields.items()}}
                                      for f in lr.files]}
                           for lr in self.layers]}

    def lines(self) -> list[str]:
        out = []
        for lr in self.layers:
            state = "same" if lr.same else "DIFFERS"
            out.append(f"layer {lr.index}: {state}  {lr.first[:19]}  {lr.second[:19]}")
            for f in lr.files[:50]:
                out.append("    " + f.describe())
            if len(lr.files) > 50:
                out.append(f"    ... and {len(lr.files) - 50} more")
        return out


def diff_entries(a: dict[str, dict], b: dict[str, dict]) -> list[FileDiff]:
    """Per-file differences between two layer manifests (pure)."""
    out = []
    for path in sorted(set(a) | set(b)):
        if path not in b:
            out.append(FileDiff(path, "only in first"))
        elif path not in a:
            out.append(FileDiff(path, "only in second"))
        else:
            fields = {k: (a[path][k], b[path][k]) for k in _FIELDS if a[path][k] != b[path][k]}
            if fields:
                out.append(FileDiff(path, "differs", fields))
    return out


def compare_images(client, first: str, second: str) -> Report:
    la = client.images.get(first).attrs["RootFS"]["Layers"]
    lb = client.images.get(second).attrs["RootFS"]["Layers"]
    layers = []
    differing = [(i, a, b) for i, (a, b) in enumerate(zip(la, lb)) if a != b]
    ma = layer_manifests(client, first, {a for _, a, _ in differing}) if differing else {}
    mb = layer_manifests(client, second, {b for _, _, b in differing}) if differing else {}
    for i in range(max(len(la), len(lb))):
        a = la[i] if i < len(la) else "(none)"
        b = lb[i] if i < len(lb) else "(none)"
        lr = LayerResult(i, a, b)
        if a != b:
            lr.files = diff_entries(ma.get(a, {}), mb.get(b, {}))
        layers.append(lr)
    return Report(first, second, layers)
