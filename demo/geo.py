"""Synthetic boundaries for the demo county (示例县).

Geometry is built in a local plane in kilometres (x east, y north, origin at the county centre), partitioned
with clipped Voronoi cells (Lloyd-relaxed so cells are compact), nested county → 乡镇 → 社区/村 → 网格, and
only at the end turned into WGS84 degrees. Every cell is snapped to a 1 m grid so that neighbours share their
vertices exactly and no slivers survive; `geojson_gcj02` converts a WGS84 geometry to the GeoJSON text the
feeds deliver (GCJ02, 6 decimals).
"""
from __future__ import annotations

import json
import math

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon

from etl.coords import wgs84_to_gcj02

LON0, LAT0 = 105.2, 31.6
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320 * math.cos(math.radians(LAT0))
GRID_KM = 0.001  # snap every vertex to 1 m


def outline(rng: np.random.Generator, n: int = 40, half_w: float = 30.0, half_h: float = 25.0) -> Polygon:
    """An irregular, star-shaped county outline of `n` vertices, about 2·half_w × 2·half_h km."""
    theta = (np.arange(n) + rng.uniform(-0.3, 0.3, n)) * 2 * np.pi / n
    wobble = np.ones(n)
    for k in range(2, 7):
        wobble += rng.uniform(0.02, 0.06) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    wobble *= 1 + rng.normal(0, 0.025, n)
    ellipse = half_w * half_h / np.sqrt((half_h * np.cos(theta)) ** 2 + (half_w * np.sin(theta)) ** 2)
    r = ellipse * wobble
    return _snap(Polygon(np.c_[r * np.cos(theta), r * np.sin(theta)]))


def blob(cx: float, cy: float, radius: float, rng: np.random.Generator, n: int = 12) -> Polygon:
    """A rounded, slightly irregular patch (a town's built-up area)."""
    theta = (np.arange(n) + rng.uniform(-0.2, 0.2, n)) * 2 * np.pi / n
    r = radius * (1 + rng.uniform(-0.18, 0.18, n))
    return Polygon(np.c_[cx + r * np.cos(theta), cy + r * np.sin(theta)])


def _snap(geom):
    g = shapely.set_precision(geom, GRID_KM)
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and not p.is_empty]
    return shapely.union_all(parts) if parts else g


def sample_points(region, n: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct random points inside region."""
    minx, miny, maxx, maxy = region.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = np.c_[rng.uniform(minx, maxx, 4 * n + 8), rng.uniform(miny, maxy, 4 * n + 8)]
        cand = cand[shapely.contains_xy(region, cand[:, 0], cand[:, 1])]
        out = np.vstack([out, cand])
    return out[:n]


def cells(points: np.ndarray, region) -> list:
    """Voronoi cells of points (in the points' order), clipped to region and snapped."""
    if len(points) == 1:
        return [region]
    minx, miny, maxx, maxy = region.bounds
    pad = max(maxx - minx, maxy - miny) + 1.0
    env = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    vor = shapely.voronoi_polygons(MultiPoint([tuple(p) for p in points]), extend_to=env, ordered=True)
    polys = shapely.get_parts(vor)
    return _absorb_fragments([_snap(g) for g in shapely.intersection(polys, region)])


def _absorb_fragments(cs: list, share: float = 0.2) -> list:
    """Clipping a convex cell by a non-convex region can leave it in pieces: give every piece smaller than
    `share` of its cell to the neighbour it shares the longest border with."""
    cs = list(cs)
    for i, g in enumerate(cs):
        if g.geom_type != "MultiPolygon":
            continue
        parts = sorted(g.geoms, key=lambda p: -p.area)
        keep = [parts[0]] + [p for p in parts[1:] if p.area >= share * g.area]
        for p in parts[1:]:
            if p.area >= share * g.area:
                continue
            border = [0.0 if j == i else shapely.intersection(p.boundary, c.boundary).length
                      for j, c in enumerate(cs)]
            j = int(np.argmax(border))
            if border[j] <= 0:
                keep.append(p)
                continue
            cs[j] = _snap(shapely.union(cs[j], p))
        cs[i] = _snap(shapely.union_all(keep))
    return cs


def partition(region, n: int, rng: np.random.Generator, iters: int = 4,
              seeds: np.ndarray | None = None) -> tuple[list, np.ndarray]:
    """Split region into n compact cells: random (or given) seeds, `iters` Lloyd steps, clipped Voronoi."""
    if n <= 1:
        p = shapely.get_coordinates(region.point_on_surface())
        return [region], p
    pts = sample_points(region, n, rng) if seeds is None else np.asarray(seeds, dtype=float)
    for _ in range(iters):
        cs = cells(pts, region)
        new = []
        for g, p in zip(cs, pts):
            c = g.centroid
            if g.is_empty or not region.contains(c):
                c = g.point_on_surface() if not g.is_empty else shapely.Point(p)
            new.append((c.x, c.y))
        pts = np.array(new)
        pts += rng.normal(0, 1e-6, pts.shape)  # keep seeds distinct
    return cells(pts, region), pts


def to_wgs84(geom):
    """Local km plane → WGS84 lon/lat degrees."""
    return shapely.transform(geom, lambda xy: np.c_[LON0 + xy[:, 0] / KM_PER_DEG_LON,
                                                     LAT0 + xy[:, 1] / KM_PER_DEG_LAT])


def km_to_lonlat(x, y):
    return LON0 + np.asarray(x) / KM_PER_DEG_LON, LAT0 + np.asarray(y) / KM_PER_DEG_LAT


def _gcj(xy: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    return np.round(np.c_[lon, lat], 6)


def geojson_gcj02(geom_wgs84) -> str:
    """GeoJSON geometry text of a WGS84 (Multi)Polygon, converted to GCJ02 and rounded to 6 decimals."""
    g = shapely.transform(geom_wgs84, _gcj)

    def rings(p):
        return [[[float(x), float(y)] for x, y in r.coords] for r in (p.exterior, *p.interiors)]

    if g.geom_type == "Polygon":
        obj = {"type": "Polygon", "coordinates": rings(g)}
    else:
        obj = {"type": "MultiPolygon", "coordinates": [rings(p) for p in g.geoms]}
    return json.dumps(obj, separators=(",", ":"))


def county_offset_km(county_index: int) -> tuple[float, float]:
    """Where demo county `county_index` of a demo city lies (km east, north of 示例县, county 0): side by side, four
    to a row, so that the city's map shows its counties apart (each outline is about 60 × 50 km)."""
    return 70.0 * (county_index % 4), -60.0 * (county_index // 4)


def layout(rng: np.random.Generator, towns: list[dict], offset_km: tuple[float, float] = (0.0, 0.0)) -> dict:
    """Boundaries for a county of len(towns) 乡镇, all in WGS84, its centre `offset_km` from (LON0, LAT0).

    towns[i]: {"urban_km": radius of the seat's built-up area, "compass": True to split it into 4 社区 named
    east/west/south/north, "comm_grids": [grids per 社区], "vill_grids": [grids per 村]}.
    Town 0 is placed nearest the county centre (the county seat), town 1 next to it.
    Returns {"county": geom, "towns": [{"geom", "seat": (lon, lat), "comms": [{"geom", "grids": [geom]}],
    "vills": [...]}]}.
    """
    dx, dy = offset_km

    def wgs(g):  # the county's km plane, moved by the offset, in WGS84
        return to_wgs84(shapely.transform(g, lambda xy: xy + np.array([dx, dy])) if (dx or dy) else g)

    county = outline(rng)
    tcells, tpts = partition(county, len(towns), rng, iters=8)
    i0 = int(np.argmin(np.hypot(tpts[:, 0], tpts[:, 1])))
    d = np.hypot(tpts[:, 0] - tpts[i0, 0], tpts[:, 1] - tpts[i0, 1])
    d[i0] = np.inf
    i1 = int(np.argmin(d))
    order = [i0, i1] + [i for i in range(len(towns)) if i not in (i0, i1)]
    out = []
    for spec, k in zip(towns, order):
        poly = tcells[k]
        seat = shapely.Point(tpts[k])
        if not poly.contains(seat):
            seat = poly.point_on_surface()
        r = min(spec["urban_km"], 0.6 * poly.exterior.distance(seat))
        urban = _snap(shapely.intersection(blob(seat.x, seat.y, r, rng), poly))
        rural = _snap(shapely.difference(poly, urban))
        n_c, n_v = len(spec["comm_grids"]), len(spec["vill_grids"])
        if spec.get("compass") and n_c == 4:
            ang = np.radians([0, 180, 270, 90])
            seeds = np.c_[seat.x + 0.5 * r * np.cos(ang), seat.y + 0.5 * r * np.sin(ang)]
            ccells, _ = partition(urban, 4, rng, iters=0, seeds=seeds)
        else:
            ccells, _ = partition(urban, n_c, rng, iters=4)
        vcells, _ = partition(rural, n_v, rng, iters=5)
        town = {"geom": wgs(poly), "seat": tuple(float(v) for v in km_to_lonlat(seat.x + dx, seat.y + dy)),
                "comms": [], "vills": []}
        for key, cs, ng in (("comms", ccells, spec["comm_grids"]), ("vills", vcells, spec["vill_grids"])):
            for cell, g in zip(cs, ng):
                gcells, _ = partition(cell, g, rng, iters=4)
                town[key].append({"geom": wgs(cell), "grids": [wgs(x) for x in gcells]})
        out.append(town)
    return {"county": wgs(county), "towns": out}
