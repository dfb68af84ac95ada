"""The county map: pydeck layers over a blank style the app serves itself (no tiles, no CDN, no network).

Boundaries come from the warehouse (GeoJSON, WGS84). A tile server is optional configuration
(`[dashboard] map_tile_url`, e.g. a county GIS server on the intranet); without it the map is drawn from data only.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pydeck as pdk

from core.config import settings

BLANK_STYLE = "/app/static/blank-style.json"

# figure → (column, label, higher is better, fixed domain or None)
FIGURES = {
    "activity": ("activity_rate", "账号活跃度", True, (0.0, 1.0)),
    "completion": ("completion_rate", "事件办结率", True, (0.0, 1.2)),
    "overdue": ("overdue_open", "超期未办结", False, None),
}

# red → amber → green (RGB), for "higher is better" figures
_RAMP = np.array([[215, 48, 39], [244, 109, 67], [253, 174, 97], [254, 224, 139], [166, 217, 106], [26, 152, 80]])
_NODATA = [90, 100, 115, 140]


def colour(values: pd.Series, higher_better: bool, domain: tuple[float, float] | None) -> list[list[int]]:
    v = pd.to_numeric(values, errors="coerce").astype(float)
    lo, hi = domain if domain else (0.0, max(1.0, float(np.nanmax(v.to_numpy())) if v.notna().any() else 1.0))
    t = ((v - lo) / (hi - lo)).clip(0, 1)
    if not higher_better:
        t = 1 - t
    out = []
    for x in t:
        if math.isnan(x):
            out.append(list(_NODATA))
            continue
        pos = x * (len(_RAMP) - 1)
        i = min(int(pos), len(_RAMP) - 2)
        c = _RAMP[i] + (_RAMP[i + 1] - _RAMP[i]) * (pos - i)
        out.append([int(c[0]), int(c[1]), int(c[2]), 190])
    return out


def legend(units: pd.DataFrame, figure: str) -> dict:
    """What the map's colours mean: the ramp as CSS stops (worst to best, left to right), the values at its ends
    (the fixed domain, or 0 to the largest value of the 乡镇 shown), the no-data colour, the figure's label."""
    col, label, higher_better, domain = FIGURES[figure]
    towns = units[units["level"] == "乡镇"] if "level" in units else units
    v = pd.to_numeric(towns[col], errors="coerce") if col in towns else pd.Series(dtype=float)
    lo, hi = domain if domain else (0.0, max(1.0, float(v.max())) if v.notna().any() else 1.0)
    ramp = [f"rgb({r},{g},{b})" for r, g, b in _RAMP]
    ends = (_fmt(lo, col), _fmt(hi, col))
    if not higher_better:  # the ramp still runs red → green; its ends swap
        ends = ends[::-1]
    return {"label": label, "ramp": ramp, "low": ends[0], "high": ends[1],
            "nodata": "rgba({},{},{},{:.2f})".format(*_NODATA[:3], _NODATA[3] / 255)}


def _features(df: pd.DataFrame, props: list[str]) -> dict:
    feats = []
    for row in df.itertuples(index=False):
        if not isinstance(row.boundary, str) or not row.boundary:
            continue
        feats.append({"type": "Feature", "geometry": json.loads(row.boundary),
                      "properties": {p: getattr(row, p) for p in props}})
    return {"type": "FeatureCollection", "features": feats}


def _bbox(boundaries: pd.Series) -> tuple[float, float, float, float] | None:
    xs, ys = [], []
    for b in boundaries.dropna():
        if not isinstance(b, str):
            continue
        g = json.loads(b)
        polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        for poly in polys:
            ring = np.asarray(poly[0], dtype=float)
            xs += [ring[:, 0].min(), ring[:, 0].max()]
            ys += [ring[:, 1].min(), ring[:, 1].max()]
    return (min(xs), max(xs), min(ys), max(ys)) if xs else None


def fit_view(df: pd.DataFrame, width_px: int, height_px: int) -> pdk.ViewState:
    """Centre and zoom (Web Mercator) that fit the areas' boundaries (or centres) into width × height pixels."""
    box = _bbox(df["boundary"]) if "boundary" in df else None
    if box is None:
        lon = pd.to_numeric(df["center_lon"], errors="coerce").dropna()
        lat = pd.to_numeric(df["center_lat"], errors="coerce").dropna()
        if lon.empty:
            s = settings().county
            return pdk.ViewState(longitude=s.center_lon, latitude=s.center_lat, zoom=9)
        box = (lon.min(), lon.max(), lat.min(), lat.max())
    lo0, lo1, la0, la1 = box
    span_lon = max(lo1 - lo0, 0.01) * 1.06
    span_lat = max(la1 - la0, 0.01) * 1.06
    z_lon = math.log2(width_px * 360 / (512 * span_lon))  # deck.gl/MapLibre: 512-px world at zoom 0
    z_lat = math.log2(height_px * 360 * math.cos(math.radians((la0 + la1) / 2)) / (512 * span_lat))
    return pdk.ViewState(longitude=(lo0 + lo1) / 2, latitude=(la0 + la1) / 2, zoom=min(z_lon, z_lat), pitch=0)


def county_deck(units: pd.DataFrame, points: pd.DataFrame | None, figure: str, *, width_px: int, height_px: int,
                label_size: int = 14, controller: bool = True) -> pdk.Deck:
    """乡镇 filled by `figure`, grid outlines, event points and 乡镇 names. `units` is overview/map_units."""
    col, label, higher_better, domain = FIGURES[figure]
    towns = units[units["level"] == "乡镇"].copy()
    grids = units[units["level"] == "网格"].copy()
    towns["fill"] = colour(towns[col], higher_better, domain)
    towns["value_text"] = [_fmt(v, col) for v in towns[col]]
    # fixed layer ids (pydeck's default is a random uuid per call): the same data gives the same JSON, so the
    # browser keeps its layers and Streamlit can send the unchanged element as a reference to its cached copy
    layers = [
        pdk.Layer("GeoJsonLayer", _features(grids, ["name"]), id="grids", stroked=True, filled=False,
                  get_line_color=[180, 200, 220, 60], line_width_min_pixels=0.5),
        pdk.Layer("GeoJsonLayer", _features(towns, ["name", "value_text", "fill"]), id="towns", stroked=True,
                  filled=True,
                  get_fill_color="properties.fill", get_line_color=[235, 245, 255, 220], line_width_min_pixels=1.5,
                  pickable=True, auto_highlight=True),
    ]
    if points is not None and len(points):
        pts = points.dropna(subset=["lon", "lat"]).copy()
        # overview/event_points: events counted per coarsened point (a grid's centre or a ~200 m cell), never
        # an event's own coordinates; the dot grows with the count
        pts["c"] = [[255, 80, 80, 230] if s != "已办结" else [120, 200, 255, 150] for s in pts["status"]]
        n = pts["events"] if "events" in pts else pd.Series(1, index=pts.index)
        pts["r"] = [round(120 * math.sqrt(max(1, int(k))), 1) for k in n]
        layers.append(pdk.Layer("ScatterplotLayer", pts[["lon", "lat", "c", "r"]], id="events",
                                get_position=["lon", "lat"], get_fill_color="c", get_radius="r",
                                radius_min_pixels=1.5, radius_max_pixels=9))
    labels = towns.dropna(subset=["center_lon", "center_lat"]).copy()
    labels["short_name"] = labels["name"].str.replace(r"(街道办事处|街道|镇|乡)$", "", regex=True)
    layers.append(pdk.Layer("TextLayer", labels[["center_lon", "center_lat", "short_name"]], id="labels",
                            get_position=["center_lon", "center_lat"], get_text="short_name",
                            get_size=label_size, get_color=[255, 255, 255, 235],
                            character_set=pdk.types.String("".join(sorted(set("".join(labels["short_name"]))))),
                            # plain strings must be wrapped, or pydeck turns them into accessor expressions
                            font_family=pdk.types.String('"Noto Sans CJK SC", "Microsoft YaHei", sans-serif')))
    tile = settings().dashboard.map_tile_url
    if tile:
        layers.insert(0, pdk.Layer("TileLayer", data=tile, id="tiles", min_zoom=0, max_zoom=19, tile_size=256))
    return pdk.Deck(layers=layers, initial_view_state=fit_view(units[units["level"] == "乡镇"], width_px, height_px),
                    map_style=BLANK_STYLE, map_provider=None,
                    # nobody touches a wall: no pan/zoom controller (and the page hides the +/− buttons)
                    views=[pdk.View(type="MapView", controller=controller)],
                    # plain text, never html: unit names come from the feeds
                    tooltip={"text": f"{{name}}\n{label}: {{value_text}}",
                             "style": {"backgroundColor": "#132b45", "color": "#fff"}})


class PreparedDeck:
    """A deck serialised once (compact JSON), for st.pydeck_chart, which asks its argument only for `to_json()`
    and `_tooltip` (and `layers`, `mapbox_key`, `width` when present). Cheap to keep in a cache and to reuse on
    every refresh of the wall: no pydeck objects, no DataFrames, no re-serialisation."""

    __slots__ = ("json", "_tooltip")

    def __init__(self, deck: pdk.Deck):
        # pydeck's own to_json() indents (3× the bytes) and cannot take DataFrames under pandas 3
        for layer in deck.layers:
            if isinstance(getattr(layer, "data", None), pd.DataFrame):
                layer.data = layer.data.to_dict(orient="records")
        self.json = json.dumps(json.loads(deck.to_json()), separators=(",", ":"), ensure_ascii=False,
                               sort_keys=True)
        self._tooltip = deck._tooltip

    def to_json(self) -> str:
        return self.json

    def __reduce__(self):  # picklable (st.cache_data) without pydeck
        return (_prepared_from, (self.json, self._tooltip))


def _prepared_from(spec: str, tooltip) -> PreparedDeck:
    p = PreparedDeck.__new__(PreparedDeck)
    p.json, p._tooltip = spec, tooltip
    return p


def _fmt(v, col: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if col.endswith("_rate"):
        return f"{v * 100:.1f}%"
    return f"{int(v)}"
