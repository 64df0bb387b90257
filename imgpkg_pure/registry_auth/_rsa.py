"""RSASSA-PKCS1-v1_5 with SHA-256 (RS256) for Google service-account JWTs, standard library only.

Reads a PEM private key, PKCS#8 (``BEGIN PRIVATE KEY``, what Google's key
files hold) or PKCS#1 (``BEGIN RSA PRIVATE KEY``), with a minimal DER reader,
and signs (RFC 8017 §8.2.1): EMSA-PKCS1-v1_5 encoding of the SHA-256
``DigestInfo``, then the private-key operation with the CRT parameters.  Every
signature is checked with the public exponent before it is returned, so a
fault never leaves this module as a signature.

This is signing with a key the user already holds, in a short-lived client
process; it makes no claim of constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Final, final

from attrs import field, frozen
from returns.result import Failure, Result, Success

__all__ = ["RsaPrivateKey", "parse_rsa_private_key", "rs256_sign"]

#: DER of ``DigestInfo { sha256, NULL }`` without the digest (RFC 8017 §9.2 note 1).
SHA256_DIGEST_INFO: Final = bytes.fromhex("3031300d060960864801650304020105000420")
#: DER of the rsaEncryption OID, 1.2.840.113549.1.1.1.
RSA_ENCRYPTION_OID: Final = bytes.fromhex("2a864886f70d010101")
_SEQUENCE: Final = 0x30
_INTEGER: Final = 0x02
_OCTET_STRING: Final = 0x04
_OID: Final = 0x06


@final
@frozen(kw_only=True)
class RsaPrivateKey:
    """The numbers of an RSA private key (never printed)."""

    n: int = field(repr=False)
    e: int = field(repr=False)
    d: int = field(repr=False)
    p: int = field(repr=False)
    q: int = field(repr=False)
    dp: int = field(repr=False)
    dq: int = field(repr=False)
    qinv: int = field(repr=False)

    @property
    def size(self) -> int:
        """The modulus length in bytes."""
        return (self.n.bit_length() + 7) // 8


class _DerError(ValueError):
    pass


def _read(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """One TLV at ``offset``: its tag, its value and the offset after it."""
    if offset + 2 > len(data):
        raise _DerError("truncated")
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise _DerError("bad length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise _DerError("truncated")
    return tag, data[offset:end], end


def _children(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        tag, value, offset = _read(data, offset)
        out.append((tag, value))
    return out


def _sequence(data: bytes) -> list[tuple[int, bytes]]:
    tag, value, end = _read(data, 0)
    if tag != _SEQUENCE or end != len(data):
        raise _DerError("not a SEQUENCE")
    return _children(value)


def _pkcs1(der: bytes) -> RsaPrivateKey:
    items = _sequence(der)
    if len(items) < 9 or any(tag != _INTEGER for tag, _ in items[:9]):
        raise _DerError("not an RSAPrivateKey")
    numbers = [int.from_bytes(value, "big", signed=True) for _, value in items[:9]]
    _version, n, e, d, p, q, dp, dq, qinv = numbers
    if min(n, e, d, p, q, dp, dq, qinv) <= 0 or p * q != n:
        raise _DerError("inconsistent RSA key numbers")
    return RsaPrivateKey(n=n, e=e, d=d, p=p, q=q, dp=dp, dq=dq, qinv=qinv)


def _pkcs8(der: bytes) -> RsaPrivateKey:
    items = _sequence(der)
    tags = tuple(tag for tag, _ in items[:3])
    if tags != (_INTEGER, _SEQUENCE, _OCTET_STRING):
        raise _DerError("not a PKCS#8 PrivateKeyInfo")
    algorithm = _children(items[1][1])
    if not algorithm or algorithm[0] != (_OID, RSA_ENCRYPTION_OID):
        raise _DerError("not an RSA key")
    return _pkcs1(items[2][1])


def parse_rsa_private_key(pem: str) -> Result[RsaPrivateKey, str]:
    """The key in a PEM text, or why it cannot be read (never quoting the key)."""
    lines = [line.strip() for line in pem.strip().splitlines()]
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN "):
        return Failure("the private key is not PEM")
    label = lines[0].removeprefix("-----BEGIN ").removesuffix("-----")
    if lines[-1] != f"-----END {label}-----" or label not in ("PRIVATE KEY", "RSA PRIVATE KEY"):
        return Failure(f"unsupported private key kind '{label}' (want an unencrypted RSA key)")
    body = [line for line in lines[1:-1] if line and ":" not in line]
    try:
        der = base64.b64decode("".join(body), validate=True)
        key = _pkcs8(der) if label == "PRIVATE KEY" else _pkcs1(der)
    except (binascii.Error, _DerError) as error:
        return Failure(f"the private key does not parse ({error})")
    return Success(key)


def rs256_sign(key: RsaPrivateKey, message: bytes) -> Result[bytes, str]:
    """The RS256 signature of ``message`` (``key.size`` bytes)."""
    digest_info = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    size = key.size
    if size < len(digest_info) + 11:
        return Failure("the RSA key is too small for SHA-256")
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    m = int.from_bytes(encoded, "big")
    m1 = pow(m, key.dp, key.p)
    m2 = pow(m, key.dq, key.q)
    s = m2 + ((key.qinv * (m1 - m2)) % key.p) * key.q
    if pow(s, key.e, key.n) != m:
        return Failure("the RSA signature does not verify (inconsistent key)")
    return Success(s.to_bytes(size, "big"))
