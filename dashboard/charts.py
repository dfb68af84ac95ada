"""plotly figures shared by the pages (the wall display passes a scale for big screens)."""
from __future__ import annotations

import html
import re

import pandas as pd
import plotly.graph_objects as go

from warehouse import fmt

GOOD, BAD, NEUTRAL, AMBER = "#1a9850", "#d73027", "#4c9be8", "#f4a53c"
FONT = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif'


def labels(values) -> list:
    """Labels from the feeds (unit, office, category names) for plotly, which reads `<a href>`, `<b>`, `<br>` in
    its text as markup: HTML-escaped, so a name is always shown as typed and is never a link."""
    return [html.escape(v) if isinstance(v, str) else v for v in values]


MONTH_FORMAT = "%Y年%-m月"  # time axes in Chinese ("2026年1月", never "Jan 2026")
DAY_FORMAT = "%Y年%-m月%-d日"


def time_axis(fig: go.Figure, *, monthly: bool = True, axis: str = "x") -> go.Figure:
    """Every time axis of the app: Chinese month (or day) ticks and hover labels, one tick per month."""
    f = MONTH_FORMAT if monthly else DAY_FORMAT
    (fig.update_xaxes if axis == "x" else fig.update_yaxes)(tickformat=f, hoverformat=f,
                                                            **({"dtick": "M1"} if monthly else {}))
    return fig


_MONTH = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


def _is_time(values) -> bool:
    """Dates, or text plotly reads as dates ('2026-01'): the axis is a time axis."""
    s = pd.Series(list(values))
    return len(s) > 0 and (pd.api.types.is_datetime64_any_dtype(s) or all(
        hasattr(v, "year") and hasattr(v, "month") or (isinstance(v, str) and _MONTH.match(v)) for v in s.dropna()))


def _layout(fig: go.Figure, height: int, scale: float = 1.0, **kw) -> go.Figure:
    title = kw.get("title")
    if isinstance(title, dict) and isinstance(title.get("text"), str):  # titles name units: feed text, escaped
        kw["title"] = dict(title, text=html.escape(title["text"]))
    fig.update_layout(separators=".,", height=int(height * scale), margin=dict(l=8, r=8, t=30 * scale, b=8),
                      font=dict(family=FONT, size=13 * scale), paper_bgcolor="rgba(0,0,0,0)",
                      plot_bgcolor="rgba(0,0,0,0)", showlegend=kw.pop("showlegend", False), **kw)
    return fig


def ranking_bars(df: pd.DataFrame, value: str, label: str, *, title: str, height: int = 500, scale: float = 1.0,
                 pct: bool = True, good_at: float | None = None, bad_below: float | None = None) -> go.Figure:
    """Horizontal bars, best on top; units with no value ("—") listed last with an empty bar."""
    d = df[[label, value]].copy()
    d["_v"] = pd.to_numeric(d[value], errors="coerce")
    d = d.sort_values("_v", ascending=True, na_position="first")
    colours = []
    for v in d["_v"]:
        if pd.isna(v):
            colours.append("#5a6473")
        elif good_at is not None and v >= good_at:
            colours.append(GOOD)
        elif bad_below is not None and v < bad_below:
            colours.append(BAD)
        else:
            colours.append(NEUTRAL)
    trim = fmt.pct_trim([d["_v"]])
    text = [fmt.pct(v, trim=trim) if pct else fmt.count(v) for v in d["_v"]]
    fig = go.Figure(go.Bar(x=d["_v"].fillna(0), y=labels(d[label]), orientation="h", marker_color=colours, text=text,
                           textposition="outside", cliponaxis=False, hoverinfo="skip"))
    fig.update_xaxes(visible=False, range=[0, max(1.0, float(d["_v"].max() or 0)) * (1.18 if pct else 1.25)])
    fig.update_yaxes(tickfont=dict(size=12 * scale), automargin=True)
    return _layout(fig, height, scale, title=dict(text=title, x=0, font=dict(size=16 * scale)), bargap=0.25)


def grouped_bars(df: pd.DataFrame, x: str, series: dict[str, str], *, title: str, height: int = 260,
                 scale: float = 1.0, colours: list[str] | None = None, stacked: bool = False,
                 horizontal: bool = False) -> go.Figure:
    colours = colours or [NEUTRAL, GOOD, AMBER, BAD]
    fig = go.Figure()
    for (col, name), c in zip(series.items(), colours):
        if horizontal:
            fig.add_bar(y=labels(df[x]), x=df[col], name=name, marker_color=c, orientation="h", text=df[col],
                        textposition="auto")
        else:
            fig.add_bar(x=labels(df[x]), y=df[col], name=name, marker_color=c, text=df[col], textposition="auto")
    fig.update_layout(barmode="stack" if stacked else "group",
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    if horizontal:
        fig.update_yaxes(autorange="reversed", automargin=True)
    return _layout(fig, height, scale, showlegend=True, title=dict(text=title, x=0, font=dict(size=16 * scale)))


def trend(df: pd.DataFrame, x: str, series: dict[str, str], *, title: str, height: int = 300, scale: float = 1.0,
          pct: bool = True) -> go.Figure:
    fig = go.Figure()
    when = "%{x|" + MONTH_FORMAT + "}" if _is_time(df[x]) else "%{x}"
    for col, name in series.items():
        fig.add_scatter(x=labels(df[x]), y=df[col], name=html.escape(str(name)), mode="lines+markers",
                        hovertemplate=when + ": %{y" + (":.1%" if pct else ":,") + "}<extra>" + html.escape(str(name))
                        + "</extra>")
    if pct:
        fig.update_yaxes(tickformat=".0%")
    if _is_time(df[x]):
        time_axis(fig)
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return _layout(fig, height, scale, showlegend=True, title=dict(text=title, x=0, font=dict(size=16 * scale)))
