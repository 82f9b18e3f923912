"""What UEFI firmware's PE/COFF loader refuses in a boot application, as
pure functions of a parsed image (``pefile.PE``) and its file size.

The rules follow edk2's ``MdePkg/Library/BasePeCoffLib/BasePeCoff.c`` (read,
not copied), the loader AAVMF/OVMF and most UEFI firmware run:

* ``PeCoffLoaderGetPeHeader``: at most 16 data directories, and
  ``SizeOfOptionalHeader`` exactly the optional header plus those
  directories; ``SizeOfImage`` and ``SizeOfHeaders`` both larger than the
  section table's offset with room for ``NumberOfSections`` section headers
  (so the section count a loader accepts is bounded by both sizes);
  ``SizeOfHeaders`` < ``SizeOfImage`` and within the file; every section
  with file data starts (in memory and in the file) after the headers and
  ends inside the file.
* ``PeCoffLoaderLoadImage``: every section that loads data lies below
  ``SizeOfImage`` (``PeCoffLoaderImageAddress``), and so does the entry point;
  the load address is aligned to ``SectionAlignment``, so it must be a
  power of two.
* DXE core ``CoreLoadPeImage`` allocates ``SizeOfImage`` (plus the alignment)
  before loading a byte: :data:`MAX_IMAGE` bounds it.

Not refused by edk2, only reported (a warning): ``SizeOfImage`` that is not
a multiple of ``SectionAlignment`` (the PE/COFF specification's rule).
"""

from __future__ import annotations

SECTION_HEADER = 40                           # EFI_IMAGE_SIZEOF_SECTION_HEADER
MAX_DIRECTORIES = 16                          # EFI_IMAGE_NUMBER_OF_DIRECTORY_ENTRIES
OPTIONAL_WITHOUT_DIRS = {0x10B: 96, 0x20B: 112}   # PE32 / PE32+ optional header, no directories
MAX_IMAGE = 64 << 20     # verify's bound on a boot application (GRUB: a few MiB in memory)


def _name(sec) -> str:
    return sec.Name.rstrip(b"\0").decode("ascii", "replace") or "?"


def header_problems(pe, file_size: int) -> list[str]:
    """PeCoffLoaderGetPeHeader's refusals (section count, SizeOfImage, SizeOfHeaders)."""
    fh, oh = pe.FILE_HEADER, pe.OPTIONAL_HEADER
    nsec, soi, soh = fh.NumberOfSections, oh.SizeOfImage, oh.SizeOfHeaders
    out = []
    base = OPTIONAL_WITHOUT_DIRS.get(oh.Magic)
    if oh.NumberOfRvaAndSizes > MAX_DIRECTORIES:
        out.append(f"NumberOfRvaAndSizes is {oh.NumberOfRvaAndSizes}, more than the "
                   f"{MAX_DIRECTORIES} data directories the loader accepts")
    elif base is not None and fh.SizeOfOptionalHeader - base != oh.NumberOfRvaAndSizes * 8:
        out.append(f"SizeOfOptionalHeader is {fh.SizeOfOptionalHeader}, not {base} + 8 * "
                   f"{oh.NumberOfRvaAndSizes} data directories")
    table = pe.DOS_HEADER.e_lfanew + 4 + 20 + fh.SizeOfOptionalHeader
    if soi <= table or (soi - table) // SECTION_HEADER <= nsec:
        out.append(f"SizeOfImage 0x{soi:X} leaves no room for the {nsec} section headers at "
                   f"byte 0x{table:X} (the loader needs SizeOfImage > 0x{table:X} + 40 * "
                   f"{nsec}): the section count or SizeOfImage is wrong")
    if soh <= table or (soh - table) // SECTION_HEADER < nsec:
        out.append(f"SizeOfHeaders 0x{soh:X} does not hold the {nsec} section headers that "
                   f"start at byte 0x{table:X}: the section count or SizeOfHeaders is wrong")
    if soh >= soi:
        out.append(f"SizeOfHeaders 0x{soh:X} is not smaller than SizeOfImage 0x{soi:X}")
    if soh > file_size:
        out.append(f"its headers ({soh} bytes) are larger than the file ({file_size} bytes)")
    return out


def section_problems(pe, file_size: int) -> list[str]:
    """The per-section refusals of PeCoffLoaderGetPeHeader and LoadImage, the
    entry point, SectionAlignment and the size the firmware must allocate."""
    oh = pe.OPTIONAL_HEADER
    soi, soh, align = oh.SizeOfImage, oh.SizeOfHeaders, oh.SectionAlignment
    out = []
    secs = list(pe.sections)
    for sec in secs:
        raw, va, vs = sec.SizeOfRawData, sec.VirtualAddress, sec.Misc_VirtualSize
        end = sec.PointerToRawData + raw
        if raw and (va < soh or sec.PointerToRawData < soh):
            out.append(f"section {_name(sec)!r} overlaps the headers (SizeOfHeaders 0x{soh:X})")
            break
        if raw and end > file_size:
            out.append(f"section {_name(sec)!r} ends at byte {end}, beyond the end of the file "
                       f"({file_size} bytes): the file is truncated")
            break
        size = raw if vs == 0 or vs > raw else vs
        if size and (va >= soi or (va + vs - 1) % (1 << 32) >= soi):
            out.append(f"section {_name(sec)!r} (0x{va:X}..0x{va + vs:X}) lies beyond "
                       f"SizeOfImage 0x{soi:X}, so the loader cannot place it")
            break
    ep = oh.AddressOfEntryPoint
    if not any(s.VirtualAddress <= ep < s.VirtualAddress + max(s.Misc_VirtualSize, s.SizeOfRawData)
               for s in secs):
        out.append(f"its entry point 0x{ep:X} lies in no section")
    if align == 0 or align & (align - 1):
        out.append(f"SectionAlignment 0x{align:X} is not a power of two, so no load address "
                   "satisfies it")
    if soi > MAX_IMAGE:
        out.append(f"SizeOfImage is {soi} bytes: the firmware must allocate that much before "
                   f"loading it, more than the {MAX_IMAGE >> 20} MiB a boot application may "
                   "take (GRUB takes a few MiB)")
    return out


def load_problems(pe, file_size: int) -> list[str]:
    """Why the firmware's loader refuses this PE image (empty: it loads)."""
    if pe.FILE_HEADER.NumberOfSections == 0 or not list(pe.sections):
        return ["it has no sections, so there is no code to load"]
    return header_problems(pe, file_size) + section_problems(pe, file_size)


def layout_warnings(pe) -> list[str]:
    """PE/COFF specification rules edk2 does not enforce (stricter loaders may)."""
    oh = pe.OPTIONAL_HEADER
    align = oh.SectionAlignment
    if align and not align & (align - 1) and oh.SizeOfImage % align:
        return [f"SizeOfImage 0x{oh.SizeOfImage:X} is not a multiple of SectionAlignment "
                f"0x{align:X} (the PE/COFF specification requires it; edk2 loads it anyway)"]
    return []
