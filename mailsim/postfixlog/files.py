"""Open a mail log for reading, plain or compressed, whatever its name says.

logrotate(8) compresses old logs with gzip by default (``mail.log.2.gz``), some sites with bzip2
or xz; the format is recognised by its magic bytes (gzip ``1f 8b``, bzip2 ``BZh``, xz
``fd 37 7a 58 5a 00``), not by the file name. Lines are decoded as UTF-8; a byte that is not
(Postfix logs 8-bit header text as it came) becomes U+FFFD, so any file can be read. Everything
is streamed: memory does not depend on the file's size.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path
from typing import IO, cast

__all__ = ["compression", "open_log"]

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)


def compression(path: str | Path) -> str:
    """Return ``gzip``, ``bzip2``, ``xz`` or ``""`` (plain) from the file's first bytes."""
    with open(path, "rb") as raw:
        head = raw.read(6)
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return ""


def open_log(path: str | Path) -> IO[str]:
    """Open ``path`` as text lines (UTF-8, undecodable bytes replaced), decompressing it if
    its magic bytes say it is compressed."""
    kind = compression(path)
    # each binary stream is handed to the text wrapper, which closes it
    binary: IO[bytes]
    if kind == "gzip":
        binary = cast(IO[bytes], gzip.open(path, "rb"))  # noqa: SIM115
    elif kind == "bzip2":
        binary = bz2.open(path, "rb")  # noqa: SIM115
    elif kind == "xz":
        binary = lzma.open(path, "rb")  # noqa: SIM115
    else:
        binary = open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
