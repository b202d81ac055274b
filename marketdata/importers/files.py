"""Reading an uploaded or local candle file into bytes: plain CSV, .gz or a one-file .zip."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path
from typing import BinaryIO

from marketdata.importers.errors import ImportFileError


def read_candle_file(source: str | Path | BinaryIO, name: str | None = None) -> bytes:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise ImportFileError(f"{path}: no such file")
        data = path.read_bytes()
        name = name or path.name
    else:
        data = source.read()
    return _without_trailing_blank_lines(decompress(data, name or ""))


def _without_trailing_blank_lines(data: bytes) -> bytes:
    """Blank lines at the end of a file are not rows (editors and exports add them)."""
    trimmed = data.rstrip(b"\r\n\t ")
    return trimmed + b"\n" if trimmed else trimmed


def decompress(data: bytes, name: str) -> bytes:
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise ImportFileError(f"{name or 'file'}: damaged gzip data ({exc})") from exc
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
                if len(members) != 1:
                    raise ImportFileError(
                        f"{name or 'zip'}: expected one CSV inside, found {len(members)}"
                    )
                return archive.read(members[0])
        except zipfile.BadZipFile as exc:
            raise ImportFileError(f"{name or 'file'}: damaged zip archive ({exc})") from exc
    return data
