"""Zip archives for the file-format tests: write members as given, and make a member claim a
size it does not have (a zip bomb as a reader sees it, without writing gigabytes)."""
from __future__ import annotations

import struct
import zipfile
from pathlib import Path


def zip_with(path: Path, members: dict[str, bytes], compress: bool = False) -> Path:
    """Write ``members`` (name -> bytes) as the zip archive ``path``; return the path."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return path


def claim_size(path: Path, member: str, size: int) -> Path:
    """Rewrite the uncompressed size ``member`` declares, in its local header and in the central
    directory; return the path."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    struct.pack_into("<I", raw, info.header_offset + 22, size)
    cd = raw.rfind(b"PK\x01\x02")
    while cd >= 0:
        name_len = struct.unpack_from("<H", raw, cd + 28)[0]
        if raw[cd + 46:cd + 46 + name_len] == member.encode():
            struct.pack_into("<I", raw, cd + 24, size)
        cd = raw.rfind(b"PK\x01\x02", 0, cd)
    path.write_bytes(bytes(raw))
    return path
