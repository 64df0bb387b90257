"""Decoding tar header blocks (POSIX ustar/pax, GNU, v7), for reading imgpkg tarballs.

The shell reads 512-byte blocks; these functions say what a block means.
Only what a reader of imgpkg tarballs needs is decoded: the name (with the
USTAR prefix), the size (octal or GNU base-256), the mode and the type flag,
after checking the header checksum (unsigned or signed sum, as Go and GNU tar
accept).  PAX extended headers (``x``) contribute ``path`` and ``size``
records; GNU long names (``L``) a path.
"""

from __future__ import annotations

from typing import Final, final

from attrs import frozen
from returns.result import Failure, Result, Success

from imgpkg_pure.layer.tar_header import BLOCK_SIZE

TYPE_REGULAR: Final = b"0"
TYPE_REGULAR_OLD: Final = b"\0"
TYPE_PAX: Final = b"x"
TYPE_PAX_GLOBAL: Final = b"g"
TYPE_GNU_LONG_NAME: Final = b"L"
#: The largest PAX or GNU long-name payload read (Go's ``maxSpecialFileSize``).
MAX_SPECIAL_SIZE: Final = 1 << 20

_MAGIC_USTAR: Final = b"ustar\0"
_MAGIC_GNU: Final = b"ustar  \0"
_TYPE_NAMES: Final = {
    b"1": "hard link",
    b"2": "symbolic link",
    b"3": "character device",
    b"4": "block device",
    b"5": "directory",
    b"6": "FIFO",
    b"7": "contiguous file",
    b"g": "global PAX header",
    b"K": "GNU long link name",
    b"S": "GNU sparse file",
}


@final
@frozen(kw_only=True)
class TarHeader:
    """The decoded fields of one header block."""

    name: str
    size: int
    mode: int
    typeflag: bytes

    @property
    def is_regular(self) -> bool:
        return self.typeflag in (TYPE_REGULAR, TYPE_REGULAR_OLD)


def type_name(typeflag: bytes) -> str:
    """A human name for a type flag (``'5' (directory)``)."""
    shown = typeflag.decode("latin-1") if typeflag.isalnum() else repr(typeflag)
    return f"'{shown}' ({_TYPE_NAMES.get(typeflag, 'unknown type')})"


def is_zero_block(block: bytes) -> bool:
    return len(block) == BLOCK_SIZE and not any(block)


def decode_name(raw: bytes) -> str:
    """Entry names as ``str``: UTF-8, undecodable bytes kept as surrogate escapes."""
    return raw.decode("utf-8", "surrogateescape")


def _cstring(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field: bytes, what: str) -> Result[int, str]:
    if field and field[0] & 0x80:
        # GNU base-256: big-endian two's complement with the top bit as marker.
        if field[0] & 0x40:
            return Failure(f"negative {what}")
        value = int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
        return Success(value)
    text = field.strip(b" \0")
    if not text:
        return Success(0)
    if any(c not in b"01234567" for c in text):
        return Failure(f"{what} field {field!r} is not an octal number")
    return Success(int(text, 8))


def decode_header(block: bytes) -> Result[TarHeader, str]:
    """Decode one 512-byte header block; the failure says why it is not a header."""
    if len(block) != BLOCK_SIZE:
        return Failure(f"a header is {BLOCK_SIZE} bytes, got {len(block)}")
    checksum = _number(block[148:156], "checksum")
    if isinstance(checksum, Failure):
        return Failure(checksum.failure())
    summed = bytearray(block)
    summed[148:156] = b" " * 8
    unsigned = sum(summed)
    signed = sum(b - 256 if b > 127 else b for b in summed)
    if checksum.unwrap() not in (unsigned, signed):
        return Failure(f"checksum {checksum.unwrap()} does not match the header (sum {unsigned})")
    size = _number(block[124:136], "size")
    if isinstance(size, Failure):
        return Failure(size.failure())
    mode = _number(block[100:108], "mode")
    if isinstance(mode, Failure):
        return Failure(mode.failure())
    name = _cstring(block[0:100])
    if block[257:263] == _MAGIC_USTAR and block[257:265] != _MAGIC_GNU:
        prefix = _cstring(block[345:500])
        if prefix:
            name = prefix + b"/" + name
    return Success(
        TarHeader(
            name=decode_name(name),
            size=size.unwrap(),
            mode=mode.unwrap(),
            typeflag=block[156:157],
        )
    )


def parse_pax_records(data: bytes) -> Result[tuple[tuple[str, str], ...], str]:
    """The ``"<len> <key>=<value>\\n"`` records of a PAX extended header, in order."""
    records: list[tuple[str, str]] = []
    rest = data
    while rest:
        if rest.strip(b"\0") == b"":
            break  # trailing NUL padding inside the entry is tolerated, as Go does
        length_text, space, _ = rest.partition(b" ")
        if not space or not length_text.isdigit():
            return Failure("PAX record without a length")
        length = int(length_text)
        if length <= len(length_text) + 1 or length > len(rest):
            return Failure(f"PAX record length {length} is out of range")
        record, rest = rest[:length], rest[length:]
        if not record.endswith(b"\n"):
            return Failure("PAX record does not end with a newline")
        key, equals, value = record[len(length_text) + 1 : -1].partition(b"=")
        if not equals or not key:
            return Failure("PAX record without key=value")
        records.append((decode_name(key), decode_name(value)))
    return Success(tuple(records))


def pax_size(value: str) -> Result[int, str]:
    """A PAX ``size`` record's value: decimal digits."""
    if not value.isascii() or not value.isdigit():
        return Failure(f"PAX size {value!r} is not a decimal number")
    return Success(int(value))
