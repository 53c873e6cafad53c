"""Reading a QR code back, as a scanner would: the modules an SVG of ``web/qr.py`` draws, and
zxing-cpp's decoder on a raster (grey bytes, dark = 0)."""

from __future__ import annotations

import re
import struct
import zlib
from xml.etree import ElementTree

import zxingcpp

SVG_NS = "{http://www.w3.org/2000/svg}"
_COMMAND = re.compile(r"([MmHh])([^MmHh]*)")


def parse(svg: str) -> ElementTree.Element:
    """The SVG as XML; inline SVG in HTML has no namespace, so any is taken out."""
    root = ElementTree.fromstring(svg)
    for element in root.iter():
        element.tag = element.tag.removeprefix(SVG_NS)
    return root


def drawn_modules(svg: str) -> list[list[bool]]:
    """The grid of the viewBox, True where the dark path's strokes (1 unit wide, butt ends, along
    rows at y + 0.5) cover a module — read from the drawing, not from segno."""
    root = parse(svg)
    x0, y0, width, height = (int(v) for v in root.attrib["viewBox"].split())
    assert (x0, y0) == (0, 0)
    grid = [[False] * width for _ in range(height)]
    dark = [path for path in root.iter("path") if "stroke" in path.attrib]
    assert len(dark) == 1
    x = y = 0.0
    for command, args in _COMMAND.findall(dark[0].attrib["d"]):
        numbers = [float(n) for n in args.replace(",", " ").split()]
        if command in "Mm":
            dx, dy = numbers
            x, y = (dx, dy) if command == "M" else (x + dx, y + dy)
        else:
            (dx,) = numbers
            end = dx if command == "H" else x + dx
            assert y % 1 == 0.5 and x % 1 == 0 and end > x
            for column in range(int(x), int(end)):
                grid[int(y)][column] = True
            x = end
    return grid


def rasterise(grid: list[list[bool]], scale: int = 4) -> memoryview:
    """Grey pixels, ``scale`` to a module."""
    rows = []
    for line in grid:
        row = bytes(0 if dark else 255 for dark in line for _ in range(scale))
        rows.extend([row] * scale)
    return memoryview(b"".join(rows)).cast("B", (len(grid) * scale, len(grid[0]) * scale))


def decode(pixels: memoryview) -> list[str]:
    """Every QR code zxing-cpp finds in grey ``pixels``, as text."""
    return [found.text for found in zxingcpp.read_barcodes(pixels, formats=zxingcpp.BarcodeFormat.QRCode)]


def png_to_grey(png: bytes) -> memoryview:
    """A PNG as Chromium writes a screenshot (8-bit RGB or RGBA, not interlaced) → its green channel."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat = 8, b""
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        data = png[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
    assert depth == 8 and interlace == 0 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    previous = bytearray(stride)
    grey = bytearray()
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - up_left
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - up_left), 2, up_left))
                line[i] = (line[i] + near[2]) & 0xFF
        grey.extend(line[1::channels])
        previous = line
    return memoryview(bytes(grey)).cast("B", (height, width))
