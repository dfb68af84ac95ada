"""有效活跃度 and 巡查覆盖 on the 账号活跃度 page: the flagged-accounts view, an account's hour × day heatmap, and the
pydeck maps (grids coloured by days patrolled; one account's 巡查 points on its grid). No network: the maps use the
app's blank style (dashboard/maps.py)."""
from __future__ import annotations

import datetime as dt
import html
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pydeck as pdk

from dashboard import charts, maps
from warehouse import fmt

INSIDE, OUTSIDE = [26, 152, 80, 220], [215, 48, 39, 230]


def flagged_view(df: pd.DataFrame) -> pd.DataFrame:
    """activity_quality/accounts with the signals in Chinese (`signal_names`) and their evidence in one line."""
    out = df.copy()
    out["signal_names"] = [fmt.signals(s) for s in out["signals"]]
    out["evidence"] = [fmt.signal_evidence(r) for r in out.to_dict("records")] if len(out) else []
    return out


def account_label(row) -> str:
    """'WG00012 · 张** · 城东社区第1网格' (the name as the caller's scope shows it; absent: left out)."""
    parts = [row["account_id"], row.get("person_name"), row.get("unit_name")]
    return " · ".join(str(p) for p in parts if isinstance(p, str) and p)


def heatmap(hours: pd.DataFrame, start: dt.date, end: dt.date, *, title: str, height: int = 420) -> go.Figure:
    """Operations by hour (rows, 0–23) and day of the period (columns) of one account (activity_quality/
    account_hours); days and hours without operations are 0."""
    days = pd.date_range(start, end - dt.timedelta(days=1), freq="D")
    z = np.zeros((24, len(days)), dtype=int)
    if len(hours):
        col = {d.date(): i for i, d in enumerate(days)}
        for r in hours.itertuples(index=False):
            d = pd.Timestamp(r.day).date()
            if d in col:
                z[int(r.hour), col[d]] += int(r.n_ops)
    fig = go.Figure(go.Heatmap(z=z, x=[f"{d.month}月{d.day}日" for d in days], y=[f"{h:02d}时" for h in range(24)],
                               colorscale="YlOrRd", hovertemplate="%{x} %{y}: %{z} 次操作<extra></extra>",
                               colorbar=dict(title="操作")))
    fig.update_yaxes(autorange="reversed")
    return charts._layout(fig, height, title=dict(text=title))  # noqa: SLF001 — the charts' shared layout


def _grid_features(grids: pd.DataFrame, props: list[str]) -> dict:
    feats = []
    for r in grids.to_dict("records"):
        b = r.get("boundary")
        if isinstance(b, str) and b:
            feats.append({"type": "Feature", "geometry": json.loads(b), "properties": {p: r.get(p) for p in props}})
    return {"type": "FeatureCollection", "features": feats}


def _view(grids: pd.DataFrame, points: pd.DataFrame | None, width_px: int, height_px: int) -> pdk.ViewState:
    """Fits the grids' boundaries and the points (a point far outside the grid stays in view)."""
    bounds = [b for b in grids["boundary"] if isinstance(b, str) and b]
    if points is not None and len(points):
        lo0, lo1, la0, la1 = points["lon"].min(), points["lon"].max(), points["lat"].min(), points["lat"].max()
        bounds.append(json.dumps({"type": "Polygon", "coordinates": [[[lo0, la0], [lo1, la0], [lo1, la1],
                                                                      [lo0, la1], [lo0, la0]]]}))
    if bounds:
        return maps.fit_view(pd.DataFrame({"boundary": bounds}), width_px, height_px)
    return maps.fit_view(grids[["center_lon", "center_lat"]], width_px, height_px)


def coverage_deck(cov: pd.DataFrame, *, width_px: int = 900, height_px: int = 520) -> maps.PreparedDeck:
    """巡查覆盖: every grid of activity_quality/coverage filled by the share of the period's days it was patrolled
    (red = none, green = every day), its figures in the tooltip."""
    g = cov.copy()
    g["fill"] = maps.colour(g["day_share"], True, (0.0, 1.0))
    g["name"] = [html.escape(str(n)) for n in g["grid_name"]]
    g["text"] = [f"巡查 {fmt.count(d)}/{fmt.count(n)} 天 · 点位 {fmt.count(p)} · 网格内 {fmt.pct(s)}"
                 for d, n, p, s in zip(g["patrol_days"], g["days_in_period"], g["patrol_points"], g["inside_share"])]
    layers = [pdk.Layer("GeoJsonLayer", _grid_features(g, ["name", "text", "fill"]), id="coverage", stroked=True,
                        filled=True, get_fill_color="properties.fill", get_line_color=[235, 245, 255, 160],
                        line_width_min_pixels=0.5, pickable=True, auto_highlight=True)]
    deck = pdk.Deck(layers=layers, initial_view_state=_view(g, None, width_px, height_px), map_style=maps.BLANK_STYLE,
                    map_provider=None, views=[pdk.View(type="MapView", controller=True)],
                    tooltip={"text": "{name}\n{text}", "style": {"backgroundColor": "#132b45", "color": "#fff"}})
    return maps.PreparedDeck(deck)


def account_deck(grids: pd.DataFrame, points: pd.DataFrame, grid_code: str | None, *, width_px: int = 900,
                 height_px: int = 460) -> maps.PreparedDeck:
    """One account's 巡查 points (activity_quality/account_points: green inside its grid, red outside) over the grid
    outlines of its unit, its own grid filled."""
    g = grids.copy()
    g["name"] = [html.escape(str(n)) for n in g["grid_name"]]
    g["own"] = [c == grid_code for c in g["grid_code"]]
    g["fill"] = [[76, 155, 232, 110] if o else [0, 0, 0, 0] for o in g["own"]]
    own = g[g["own"]]
    pts = points.dropna(subset=["lon", "lat"]).copy()
    pts["c"] = [INSIDE if v is True or v == 1 else OUTSIDE for v in pts["inside"]]
    pts["t"] = [f"{pd.Timestamp(t):%m-%d %H:%M}" for t in pts["op_time"]]
    layers = [
        pdk.Layer("GeoJsonLayer", _grid_features(g, ["name", "fill"]), id="grids", stroked=True, filled=True,
                  get_fill_color="properties.fill", get_line_color=[180, 200, 220, 140], line_width_min_pixels=0.7),
        pdk.Layer("ScatterplotLayer", pts[["lon", "lat", "c", "t"]].to_dict("records"), id="points",
                  get_position=["lon", "lat"], get_fill_color="c", get_radius=25, radius_min_pixels=3,
                  radius_max_pixels=8, pickable=True),
    ]
    view = _view(own if len(own) else g, pts, width_px, height_px)
    deck = pdk.Deck(layers=layers, initial_view_state=view, map_style=maps.BLANK_STYLE, map_provider=None,
                    views=[pdk.View(type="MapView", controller=True)],
                    tooltip={"text": "{t}", "style": {"backgroundColor": "#132b45", "color": "#fff"}})
    return maps.PreparedDeck(deck)
