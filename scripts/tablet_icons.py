"""Draw the tablet's home-screen icons (PNG, no image library): a white ring on the night-blue bar."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

NAVY, WHITE, RED = (0x13, 0x20, 0x2F), (0xFF, 0xFF, 0xFF), (0xC6, 0x28, 0x28)


def pixel(x: float, y: float) -> tuple[int, int, int]:
    """Return the colour at (x, y) in a unit square: a white ring around a red dot on navy."""
    r = ((x - 0.5) ** 2 + (y - 0.5) ** 2) ** 0.5
    if r < 0.16:
        return RED
    if 0.26 < r < 0.36:
        return WHITE
    return NAVY


def png(size: int) -> bytes:
    """Return a size×size RGB PNG of the icon."""
    rows = b"".join(b"\x00" + bytes(c for x in range(size) for c in pixel((x + 0.5) / size, (y + 0.5) / size))
                    for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def main(dest: str = "app/static/icons") -> None:
    """Write escort-192.png and escort-512.png into ``dest``."""
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (out / f"escort-{size}.png").write_bytes(png(size))


if __name__ == "__main__":
    main(*sys.argv[1:])
