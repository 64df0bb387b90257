"""Tar headers exactly as Go's ``archive/tar`` writer makes them.

imgpkg writes every tar (push layers, ``copy --to-tar``) with Go's
``tar.Writer.WriteHeader`` and headers that hold only a name, a mode, a size
and a type flag: uid/gid 0, empty uname/gname, mtime 0 (Go writes its zero
time as Unix epoch 0), no link name, device numbers 0.  ``encode_header``
reproduces the bytes Go writes for such a header, including its format choice
(imgpkg-reference §3.4, "Format-selection rules"):

* **USTAR** when every field fits: an ASCII name of at most 100 bytes, or a
  longer ASCII name that Go's ``splitUSTARPath`` can split into
  ``prefix``/``name``; mode and size in octal.
* **PAX** otherwise, when the mode fits in octal: an extended header (type
  ``x``) named ``<dir>/PaxHeaders.0/<base>`` holding sorted ``path`` and
  ``size`` records, then the real header with the name reduced to ASCII and
  truncated to 100 bytes (and size 0 if it did not fit).
* **GNU** when the mode does not fit in octal (Go's ``ModeDir`` and
  setuid/setgid/sticky bits): magic ``ustar  \\0``, base-256 numbers, and a
  ``././@LongLink`` entry (type ``L``) before names longer than 100 bytes.

Names are ``str``; they are written as UTF-8 with surrogate escapes, so a name
read from the filesystem as undecodable bytes is written back byte for byte.
"""

from __future__ import annotations

import enum
from typing import Final

from imgpkg_pure.layer.gopath import go_join

BLOCK_SIZE: Final = 512
END_OF_ARCHIVE: Final = b"\0" * (2 * BLOCK_SIZE)
"""Two zero blocks: Go's ``tar.Writer.Close`` writes these and no record padding."""

TYPE_REG: Final = b"0"
TYPE_DIR: Final = b"5"
TYPE_PAX: Final = b"x"
TYPE_GNU_LONGNAME: Final = b"L"

NAME_SIZE: Final = 100
PREFIX_SIZE: Final = 155
MAX_SPECIAL_FILE_SIZE: Final = 1 << 20
"""Go refuses PAX extended headers larger than this (``maxSpecialFileSize``)."""

_GNU_LONG_NAME: Final = b"././@LongLink"
_MAGIC_USTAR: Final = b"ustar\x00" + b"00"
_MAGIC_GNU: Final = b"ustar " + b" \x00"

# (offset, length) of the header fields used here.
_NAME: Final = (0, 100)
_MODE: Final = (100, 8)
_UID: Final = (108, 8)
_GID: Final = (116, 8)
_SIZE: Final = (124, 12)
_MTIME: Final = (136, 12)
_CHKSUM: Final = (148, 8)
_TYPEFLAG: Final = 156
_LINKNAME: Final = (157, 100)
_MAGIC: Final = (257, 8)
_UNAME: Final = (265, 32)
_GNAME: Final = (297, 32)
_DEVMAJOR: Final = (329, 8)
_DEVMINOR: Final = (337, 8)
_PREFIX: Final = (345, 155)

GO_MODE_DIR: Final = 1 << 31
GO_MODE_SETUID: Final = 1 << 23
GO_MODE_SETGID: Final = 1 << 22
GO_MODE_STICKY: Final = 1 << 20


class TarFormat(enum.Enum):
    """The header format Go picks for an entry."""

    USTAR = "ustar"
    PAX = "pax"
    GNU = "gnu"


def padding(size: int) -> bytes:
    """The NUL bytes that pad ``size`` bytes of entry data to a whole block."""
    return b"\0" * (-size % BLOCK_SIZE)


def padded_size(size: int) -> int:
    """``size`` rounded up to a whole number of blocks."""
    return size + (-size % BLOCK_SIZE)


def go_file_mode(posix_mode: int, *, is_dir: bool) -> int:
    """Go's ``os.FileMode`` for POSIX permission bits (``st_mode & 0o7777``).

    Permission bits stay; setuid, setgid and sticky move to Go's own bits
    (1<<23, 1<<22, 1<<20) and directories get ``ModeDir`` (1<<31).
    """
    mode = posix_mode & 0o777
    if posix_mode & 0o4000:
        mode |= GO_MODE_SETUID
    if posix_mode & 0o2000:
        mode |= GO_MODE_SETGID
    if posix_mode & 0o1000:
        mode |= GO_MODE_STICKY
    if is_dir:
        mode |= GO_MODE_DIR
    return mode


def name_bytes(name: str) -> bytes:
    """The bytes a name is written as (UTF-8; surrogate escapes restore raw bytes)."""
    return name.encode("utf-8", "surrogateescape")


def _is_ascii(raw: bytes) -> bool:
    # Go's isASCII: no rune >= 0x80 and no NUL.
    return raw.isascii() and b"\0" not in raw


def _to_ascii(raw: bytes) -> bytes:
    # Go's toASCII keeps the runes below 0x80 except NUL; every byte of a
    # multi-byte (or invalid) UTF-8 sequence is >= 0x80, so this is bytewise.
    if _is_ascii(raw):
        return raw
    return bytes(byte for byte in raw if 0 < byte < 0x80)


def split_ustar_path(raw: bytes) -> tuple[bytes, bytes] | None:
    """Go's ``splitUSTARPath``: ``(prefix, name)`` for a long ASCII name, or None."""
    length = len(raw)
    if length <= NAME_SIZE or not _is_ascii(raw):
        return None
    if length > PREFIX_SIZE + 1:
        length = PREFIX_SIZE + 1
    elif raw[length - 1 : length] == b"/":
        length -= 1
    i = raw.rfind(b"/", 0, length)
    suffix_len = len(raw) - i - 1
    if i <= 0 or suffix_len > NAME_SIZE or suffix_len == 0 or i > PREFIX_SIZE:
        return None
    return raw[:i], raw[i + 1 :]


def _fits_octal(width: int, value: int) -> bool:
    return value >= 0 and (width >= 22 or value < 1 << ((width - 1) * 3))


def _fits_base256(width: int, value: int) -> bool:
    bits = (width - 1) * 8
    return width >= 9 or -(1 << bits) <= value < 1 << bits


def _put_string(block: bytearray, field: tuple[int, int], value: bytes) -> None:
    # Go's formatter.formatString: copy (truncating), NUL-terminate if room,
    # and if truncation left a '/' in the last byte, cut at the slashes.
    offset, width = field
    block[offset : offset + min(width, len(value))] = value[:width]
    if len(value) < width:
        block[offset + len(value)] = 0
    if len(value) > width and block[offset + width - 1] == ord("/"):
        kept = len(value[:width].rstrip(b"/"))
        block[offset + kept] = 0


def _put_octal(block: bytearray, field: tuple[int, int], value: int) -> None:
    # Go's formatter.formatOctal: zero-padded octal leaving room for a NUL;
    # a value that does not fit is written as 0.
    _, width = field
    if not _fits_octal(width, value):
        value = 0
    digits = format(value, "o").rjust(width - 1, "0")
    _put_string(block, field, digits.encode("ascii"))


def _put_numeric(block: bytearray, field: tuple[int, int], value: int) -> None:
    # Go's formatter.formatNumeric: octal when it fits, else base-256.
    offset, width = field
    if _fits_octal(width, value):
        _put_octal(block, field, value)
        return
    if _fits_base256(width, value):
        encoded = bytearray((value & ((1 << (8 * width)) - 1)).to_bytes(width, "big"))
        encoded[0] |= 0x80
        block[offset : offset + width] = encoded
        return
    _put_octal(block, field, 0)


def _set_format(block: bytearray, tar_format: TarFormat) -> None:
    # Go's block.setFormat: magic and version, then the checksum
    # (six octal digits, NUL, space; the field counts as eight spaces).
    offset, width = _MAGIC
    block[offset : offset + width] = _MAGIC_GNU if tar_format is TarFormat.GNU else _MAGIC_USTAR
    chk_offset, chk_width = _CHKSUM
    block[chk_offset : chk_offset + chk_width] = b" " * chk_width
    checksum = sum(block)
    _put_octal(block, (chk_offset, 7), checksum)
    block[chk_offset + 7] = ord(" ")


def _template(
    raw_name: bytes, *, mode: int, size: int, typeflag: bytes, numeric: bool
) -> bytearray:
    # Go's Writer.templateV7Plus for a header with only name/mode/size/type set.
    put_number = _put_numeric if numeric else _put_octal
    block = bytearray(BLOCK_SIZE)
    block[_TYPEFLAG] = typeflag[0]
    _put_string(block, _NAME, raw_name)
    _put_string(block, _LINKNAME, b"")
    put_number(block, _MODE, mode)
    put_number(block, _UID, 0)
    put_number(block, _GID, 0)
    put_number(block, _SIZE, size)
    put_number(block, _MTIME, 0)
    _put_string(block, _UNAME, b"")
    _put_string(block, _GNAME, b"")
    put_number(block, _DEVMAJOR, 0)
    put_number(block, _DEVMINOR, 0)
    return block


def _raw_file(name: bytes, data: bytes, typeflag: bytes, tar_format: TarFormat) -> bytes:
    # Go's Writer.writeRawFile: a bare header (mode/uid/gid/mtime 0, device
    # fields left NUL) followed by its data, for PAX and GNU long-name entries.
    name = _to_ascii(name)[:NAME_SIZE].rstrip(b"/")
    block = bytearray(BLOCK_SIZE)
    block[_TYPEFLAG] = typeflag[0]
    _put_string(block, _NAME, name)
    _put_octal(block, _MODE, 0)
    _put_octal(block, _UID, 0)
    _put_octal(block, _GID, 0)
    _put_octal(block, _SIZE, len(data))
    _put_octal(block, _MTIME, 0)
    _set_format(block, tar_format)
    return bytes(block) + data + padding(len(data))


def _pax_record(key: str, value: bytes) -> bytes:
    # Go's formatPAXRecord: "<len> <key>=<value>\n" where len counts itself.
    body = b" " + key.encode("ascii") + b"=" + value + b"\n"
    size = len(body) + len(str(len(body)))
    if len(str(size)) + len(body) != size:
        size = len(str(size)) + len(body)
    return str(size).encode("ascii") + body


def pax_header_name(name: str) -> str:
    """Go's name for a PAX extended header: ``path.Join(dir, "PaxHeaders.0", file)``."""
    cut = name.rfind("/") + 1
    return go_join(name[:cut], "PaxHeaders.0", name[cut:])


def header_format(name: str, *, mode: int, size: int) -> TarFormat:
    """The format Go's ``WriteHeader`` picks (USTAR, then PAX, then GNU).

    Raises ``ValueError`` for a header Go cannot write at all (a name with a
    NUL byte, a negative size, numbers too large for any format): callers
    only build headers from observed files, so that is a programming error.
    """
    return _choose(name_bytes(name), mode=mode, size=size)[0]


def _choose(raw: bytes, *, mode: int, size: int) -> tuple[TarFormat, dict[str, bytes]]:
    # Go's Header.allowedFormats, restricted to the fields imgpkg sets.
    if b"\0" in raw:
        raise ValueError(f"tar entry name {raw!r} contains a NUL byte")
    if size < 0:
        raise ValueError(f"tar entry {raw!r} has a negative size {size}")
    ustar_ok = pax_ok = gnu_ok = True
    records: dict[str, bytes] = {}
    if not _is_ascii(raw) or len(raw) > NAME_SIZE:
        if split_ustar_path(raw) is None:
            ustar_ok = False
        records["path"] = raw
    if not _fits_base256(8, mode):
        gnu_ok = False
    if not _fits_octal(8, mode):
        ustar_ok = pax_ok = False
    if not _fits_base256(12, size):
        gnu_ok = False
    if not _fits_octal(12, size):
        ustar_ok = False
        records["size"] = str(size).encode("ascii")
    if ustar_ok:
        return TarFormat.USTAR, records
    if pax_ok:
        return TarFormat.PAX, records
    if gnu_ok:
        return TarFormat.GNU, records
    raise ValueError(f"tar entry {raw!r}: mode {mode:#o} or size {size} fits no tar format")


def encode_header(name: str, *, mode: int, size: int, typeflag: bytes) -> bytes:
    """The header bytes Go's ``tar.Writer.WriteHeader`` writes for this entry.

    The header has uid/gid 0, empty uname/gname, mtime 0 and the given name,
    mode (a Go ``FileMode`` value: permission bits plus Go's high bits), size
    and one-byte type flag (``TYPE_REG``, ``TYPE_DIR``).  The result is one
    512-byte block, preceded by any PAX extended header or GNU long-name
    entry (each with its data padded to whole blocks).  Entry data and its
    ``padding`` are not included.  See the module docstring for the format
    rules; ``ValueError`` as in ``header_format``.
    """
    if len(typeflag) != 1:
        raise ValueError(f"a tar type flag is one byte, got {typeflag!r}")
    if typeflag == TYPE_REG and name.endswith("/"):
        raise ValueError(f"regular tar entry {name!r} may not end with '/'")
    raw = name_bytes(name)
    tar_format, records = _choose(raw, mode=mode, size=size)
    match tar_format:
        case TarFormat.USTAR:
            prefix = b""
            split = split_ustar_path(raw)
            if split is not None:
                prefix, raw = split
            block = _template(raw, mode=mode, size=size, typeflag=typeflag, numeric=False)
            _put_string(block, _PREFIX, prefix)
            _set_format(block, TarFormat.USTAR)
            return bytes(block)
        case TarFormat.PAX:
            data = b"".join(_pax_record(key, records[key]) for key in sorted(records))
            if len(data) > MAX_SPECIAL_FILE_SIZE:
                raise ValueError(f"tar entry {raw!r}: PAX header too large")
            extended = b""
            if data:
                extended = _raw_file(name_bytes(pax_header_name(name)), data, TYPE_PAX, tar_format)
            block = _template(
                _to_ascii(raw), mode=mode, size=size, typeflag=typeflag, numeric=False
            )
            _set_format(block, TarFormat.PAX)
            return extended + bytes(block)
        case TarFormat.GNU:
            long_name = b""
            if len(raw) > NAME_SIZE:
                long_name = _raw_file(_GNU_LONG_NAME, raw + b"\0", TYPE_GNU_LONGNAME, tar_format)
            block = _template(raw, mode=mode, size=size, typeflag=typeflag, numeric=True)
            _set_format(block, TarFormat.GNU)
            return long_name + bytes(block)
