"""Rendering helpers shared by the pages: formatting, banners, table export, the audited unmask of one record."""
from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import re
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from core.config import settings
from dashboard import auth, data, session, users
from warehouse import cells, db, fmt
from warehouse.metrics import Period, Scope

DATASET_TITLES = {
    "org_units": "组织机构", "accounts": "系统账号", "activity_log": "账号操作日志", "events": "事件",
    "event_flow": "事件流转", "key_person_reports": "重点人员信息报送", "collection_stats": "基础信息采集统计",
}
ADMIN = Scope(personal="masked", label="全县")  # the 县级管理员's scope (kept for callers outside a login, e.g. tests)
UNMASK_MIN_REASON = users.MIN_REASON_CHARS


def esc(v: object) -> str:
    """HTML-escape text that goes into st.markdown(unsafe_allow_html=True): feed values are never trusted (a URL
    in them is not even text a renderer could turn into a link: its `://` is written as an entity)."""
    return html.escape("" if v is None else str(v)).replace("://", "&#58;//")


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character (CommonMark escapes them all)


def md(v: object) -> str:
    """Feed text for st.markdown / st.caption / st.subheader / a metric's label: always text. Every ASCII
    punctuation character is backslash-escaped, so no link (`[x](http://…)`, a bare `http://…`), emphasis, heading,
    table, `:red[…]`, emoji code, LaTeX or HTML comes from a value; line breaks become spaces."""
    s = "" if v is None else str(v)
    return _MD_SPECIAL.sub(r"\\\1", s.replace("\r", " ").replace("\n", " "))


def pct(v: object, digits: int = 1, *, trim: bool = True) -> str:
    """0.857 → '85.7%'; 1 → '100%'; None/NaN → '—' (no accounts, no events: never 0% or 100%). The one rule for
    rates (warehouse/fmt.py), shared with the bulletin and the weekly review."""
    return fmt.pct(v, digits, trim=trim)


def metric(label: str, value, previous=None, *, better: str | None = "up", kind: str = "count", where=None,
           unit: str = "", since: str | None = None, help: str | None = "与上一统计周期相比") -> None:
    """A headline tile. `value` and `previous` are figures (a rate as 0–1, or a count); the delta is only ever the
    change against the previous period, in percentage points for a rate: green when the change is good for this
    figure (better="up": more is better; "down": more is worse, e.g. overdue events), red when bad, grey without
    an arrow when there is no change (as shown: 85.7% → 85.7% is 持平) or better=None; no delta without a
    previous figure. A text `value` (e.g. "3 / 5") is shown as it is, without a delta. `since` (e.g. "较上周") is
    written beside the delta where a tile is wide enough."""
    where = st if where is None else where
    if kind == "rate":
        shown = pct(value)
        change = fmt.points(value, previous)
        delta = None if change is None else f"{change:+.1f} 个百分点"
    else:
        shown = value if isinstance(value, str) else (
            fmt.count(value) + (f" {unit}" if unit and fmt.num(value) is not None else ""))
        a, b = fmt.num(value), fmt.num(previous)
        change = None if isinstance(value, str) or a is None or b is None else round(a - b)
        delta = None if change is None else f"{int(change):+,d}" + (f" {unit}" if unit else "")
    if change is None:
        where.metric(label, shown)
    elif change == 0:
        where.metric(label, shown, "持平", delta_color="off", delta_arrow="off", delta_description=since, help=help)
    else:
        colour = "off" if better is None else ("inverse" if better == "down" else "normal")
        where.metric(label, shown, delta, delta_color=colour, delta_description=since, help=help)


# Streamlit's own English chrome, which no setting turns off: the running indicator with its "Stop" button and
# the "Press Enter to submit form" / "Press Enter to apply" hint under text inputs (Enter still submits). The
# toolbar menu ("Print", "Record screen", "Made with Streamlit") is off by .streamlit/config.toml
# (client.toolbarMode = "minimal").
CHROME_CSS = """<style>
  [data-testid="stStatusWidget"], [data-testid="InputInstructions"] { display: none !important; }
</style>"""


def chrome() -> None:
    """Hide Streamlit's English chrome (see CHROME_CSS); called once per script run by dashboard/app.py."""
    st.html(CHROME_CSS)


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def stale_datasets() -> pd.DataFrame:
    """Datasets whose last delivery is older than the configured age."""
    try:
        f = data.q("quality/freshness", dataclasses.replace(session.scope(), personal="none"))
    except Exception:  # noqa: BLE001 — no warehouse yet: nothing to warn about here
        return pd.DataFrame()
    limit = now() - dt.timedelta(hours=settings().dashboard.stale_hours)
    f = f[f["records"] > 0]
    return f[f["last_landed_at"].isna() | (f["last_landed_at"] < limit)]


def stale_banner() -> None:
    stale = stale_datasets()
    if len(stale):
        names = "、".join(DATASET_TITLES.get(d, d) for d in stale["dataset"])
        st.warning(f"数据可能已过期: {names} 超过 {settings().dashboard.stale_hours:g} 小时没有新的交付。"
                   "请检查数据导入 (数据质量页)。", icon="⚠️")


@dataclass(frozen=True)
class Source:
    """Where a table's rows came from, so that a role that may unmask can re-query one record (or the table) in
    full: the metrics query, its parameters and the column that identifies a record."""
    query: str
    params: dict
    key: str


def csv_bytes(df: pd.DataFrame) -> bytes:
    """A table as CSV (UTF-8 with BOM, opens in Excel), feed text that a spreadsheet would evaluate neutralised."""
    return cells.neutralise_frame(df).to_csv(index=False).encode("utf-8-sig")


def _xlsx(df: pd.DataFrame, name: str) -> bytes:
    """A table as a workbook: text cells written as text (never a formula or a link), neutralised like the CSV."""
    df = cells.neutralise_frame(df)
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="xlsxwriter",
                        engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}}) as xw:
        df.to_excel(xw, index=False, sheet_name=name[:31])
        ws = xw.sheets[name[:31]]
        ws.freeze_panes(1, 0)
        for i, col in enumerate(df.columns):
            width = max([len(str(col))] + [len(str(v)) for v in df[col].head(200)]) + 2
            ws.set_column(i, i, min(40, width * 1.2))
    return buf.getvalue()


def audited(make, actor: str, name: str, detail: str):
    """The file of a deferred download, built only when the button is clicked, and only after the download is
    written to the audit log under the user who was shown the button (still enabled): there is no URL to the
    file before that, so no export leaves the server without its audit entry."""
    def build() -> bytes:
        user = auth.store().get_user(actor)
        if user is None or user.disabled:
            raise PermissionError("the user who was shown this export is gone")
        auth.store().audit(actor, "export", name, detail)
        return make()
    return build


def audited_download(container, label: str, make, file_name: str, mime: str, *, key: str, detail: str) -> None:
    """A download button whose file is built on click, after its audit entry (see `audited`)."""
    container.download_button(label, audited(make, session.identity().name, file_name, detail), file_name, mime,
                              key=key, on_click="ignore")


def export_buttons(df: pd.DataFrame, name: str, key: str) -> None:
    """CSV (UTF-8 with BOM, opens in Excel) and xlsx downloads of a table as shown (masked as shown); both are
    built when clicked (deferred downloads, never a standing URL) and every download is written to the audit log
    first. The grid's own "download as CSV" is off (client.disableDataExport): it never reaches the server."""
    actor = session.identity().name
    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button("导出 CSV", audited(lambda: csv_bytes(df), actor, name, f"csv · {len(df)} 行 · 已脱敏"),
                       f"{name}.csv", "text/csv", key=f"{key}-csv", on_click="ignore")
    c2.download_button("导出 Excel", audited(lambda: _xlsx(df, name), actor, name, f"xlsx · {len(df)} 行 · 已脱敏"),
                       f"{name}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key=f"{key}-xlsx", on_click="ignore")


ROW_PX, HEADER_PX = 35, 38  # st.dataframe's default row and header heights
TABLE_ROWS = 30  # a table shows up to this many rows without scrolling (every unit of the county fits)
LONG_TEXT = ("描述", "原因", "错误", "原始内容", "说明", "详情")  # columns that get the width they need


rates_trim = fmt.pct_trim  # one precision for every rate of a table (see warehouse/fmt.py)


def _hours_label(label: str) -> str:
    return label.replace("(小时)", "(天)").replace("（小时）", "（天）")


def _shown(df: pd.DataFrame, columns: dict[str, str], rates: tuple[str, ...] = ()) -> pd.DataFrame:
    """The listed columns, renamed: rates as text with one precision for the whole table ('30.0%', '10.5%',
    '—'; see rates_trim), durations labelled "(小时)" in days "(天)" when any reaches 48 hours, whole numbers as integers."""
    view = df[[c for c in columns if c in df.columns]].copy()
    names = {c: columns[c] for c in view.columns}
    rates = tuple(c for c in rates if c in view.columns)
    trim = rates_trim(view[c] for c in rates)
    for c in rates:
        view[c] = [pct(v, trim=trim) for v in view[c]]
    for c in view.columns:
        if c in rates:
            continue
        if "小时" in names[c] and pd.api.types.is_numeric_dtype(view[c]):
            h = pd.to_numeric(view[c], errors="coerce").astype("Float64")
            if h.max(skipna=True) is not pd.NA and h.max(skipna=True) >= fmt.DAYS_FROM_HOURS:
                view[c], names[c] = (h / 24).round(1), _hours_label(names[c])
            else:
                view[c] = h.round(1)
        elif pd.api.types.is_float_dtype(view[c]):
            v = view[c].astype("Float64")
            whole = v.dropna()
            view[c] = v.round(0).astype("Int64") if len(whole) and (whole == whole.round(0)).all() else v.round(1)
    return view.rename(columns=names)


_FIGURE = re.compile(r"^(—|[+\-]?[\d,]+(\.\d+)?%?)$")  # a rate or a count written as text ("85.7%", "1,234")


def column_config(view: pd.DataFrame, *, first_pinned: bool = False) -> dict:
    """One rule for every table's columns: dates as dates (a midnight timestamp is a date), times to the minute,
    integers with thousands separators, decimals with one digit, rates (text) right-aligned, long text wide."""
    cfg: dict = {}
    for i, c in enumerate(view.columns):
        s = view[c]
        text = s.dtype == object or pd.api.types.is_string_dtype(s)
        if pd.api.types.is_datetime64_any_dtype(s):
            t = s.dropna()
            midnight = len(t) and ((t.dt.hour == 0) & (t.dt.minute == 0) & (t.dt.second == 0)).all()
            cfg[c] = (st.column_config.DateColumn(format="YYYY-MM-DD") if midnight else
                      st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"))
        elif s.dtype == object and len(s.dropna()) and all(isinstance(v, dt.date) for v in s.dropna()):
            if all(isinstance(v, dt.datetime) for v in s.dropna()):
                cfg[c] = st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")
            else:
                cfg[c] = st.column_config.DateColumn(format="YYYY-MM-DD")
        elif pd.api.types.is_bool_dtype(s):
            continue
        elif pd.api.types.is_integer_dtype(s):
            cfg[c] = st.column_config.NumberColumn(format="localized")
        elif pd.api.types.is_float_dtype(s):
            cfg[c] = st.column_config.NumberColumn(format="%.1f")
        elif text and len(s.dropna()) and all(isinstance(v, str) and _FIGURE.match(v) for v in s.dropna()):
            cfg[c] = st.column_config.TextColumn(alignment="right")
        elif any(w in str(c) for w in LONG_TEXT):
            cfg[c] = st.column_config.TextColumn(width="large")
        if first_pinned and i == 0:
            cfg[c] = cfg.get(c) or st.column_config.Column()
            cfg[c]["pinned"] = True
    return cfg


def table_height(rows: int, max_rows: int = TABLE_ROWS) -> int | str:
    """A table as tall as its rows (no empty box, no hidden rows: "content") up to `max_rows`, then it scrolls
    (about `max_rows` rows high)."""
    return "content" if rows <= max_rows else HEADER_PX + ROW_PX * max_rows + 3


def frame(view: pd.DataFrame, *, key: str | None = None, max_rows: int = TABLE_ROWS, pinned: bool = False,
          **kw):
    """st.dataframe with the common column rules (column_config), a height from its rows and "—" for a missing
    value (never "None")."""
    return st.dataframe(view, hide_index=True, key=key, height=kw.pop("height", table_height(len(view), max_rows)),
                        column_config=column_config(view, first_pinned=pinned), placeholder=fmt.DASH, **kw)


def unmask_panel(df: pd.DataFrame, source: Source, columns: dict[str, str], *, name: str, key: str) -> None:
    """For a role that may unmask (县级管理员, 部门用户): show one record in full after a reason is given, and export
    the whole table in full after a reason is given; both are written to the audit log before any data is read.
    The full record is drawn for this run only (not kept in the session)."""
    ident = session.identity()
    if not ident.can_unmask or df.empty or source.key not in df.columns:
        return
    with st.expander("查看或导出未脱敏信息 (需填写理由, 记入审计日志)"):
        with st.form(f"{key}-unmask", clear_on_submit=True):
            records = list(dict.fromkeys(df[source.key].astype(str)))
            rec = st.selectbox(f"记录 ({columns.get(source.key, source.key)})", records, key=f"{key}-unmask-rec")
            reason = st.text_input("查看理由 (必填)", max_chars=200, key=f"{key}-unmask-reason")
            c1, c2 = st.columns(2)
            one = c1.form_submit_button("查看此条完整信息")
            whole = c2.form_submit_button("导出整表完整信息")
        if not (one or whole):
            return
        reason = users.clean_reason(reason)  # zero-width and other invisible characters do not count
        if users.reason_chars(reason) < UNMASK_MIN_REASON:
            st.error(f"请填写查看理由 (至少 {UNMASK_MIN_REASON} 个字)。")
            return
        if one:
            full = data.unmasked_record(source.query, source.params, source.key, rec, reason.strip())
            frame(_shown(full, columns), key=f"{key}-unmasked")
        else:
            full = data.unmasked_table(source.query, source.params, name, reason.strip())
            view = _shown(full, columns)
            # built when clicked: no standing URL to the unmasked file (the export_full entry is written already)
            st.download_button("下载完整信息 (Excel)", lambda: _xlsx(view, name), f"{name}-完整.xlsx",
                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                               key=f"{key}-full-xlsx", on_click="ignore")


# ------------------------------------------------------------------------------------------------ page context
def without_unknown_prev(figures, period: Period, data_first_day: dt.date | None):
    """`figures` (a headline row, or a frame of rows) with every prev_* figure emptied when the previous period
    holds no data (it ends on or before the first day of data): zeros there are not a change, so no 环比 is shown
    (ui.metric shows no delta without a previous figure). The one rule for 环比 at the start of the data."""
    if data_first_day is None or period.prev().end > data_first_day:
        return figures
    figures = figures.copy()
    names = figures.index if isinstance(figures, pd.Series) else figures.columns
    for k in [c for c in names if str(c).startswith("prev_")]:
        figures[k] = None
    return figures


@dataclass
class Ctx:
    """What a working page needs: the chosen period (and its previous), the unit filter, the caller's scope."""
    period: Period
    scope: Scope
    ru_code: str | None
    units: pd.DataFrame
    as_of: dt.datetime
    data_first_day: dt.date | None = None

    def known_prev(self, figures):
        """`figures` without a 环比 against a previous period before the data (without_unknown_prev)."""
        return without_unknown_prev(figures, self.period, self.data_first_day)

    @property
    def running(self) -> bool:
        """The period is still running: its figures are as of now (`as_of`), never as of its future end."""
        return period_running(self.period, self.as_of)

    @property
    def prm(self) -> dict:
        """The common parameters of the metrics layer for this period: a running period is measured as of now
        ($period_asof: what is overdue, how many active days an account can have had), a past one at its end."""
        return {**self.period.params(), **self.period.prev().params("prev_"), "cutoff": None,
                "period_asof": self.as_of if self.running else None}

    @property
    def trend_end(self) -> dt.date:
        """The $end of a trend of months up to this period (exclusive): a running period is cut after today (its
        last month counts the days so far, as `prm` measures the period), a past one at its end."""
        return min(self.period.end, self.as_of.date() + dt.timedelta(days=1)) if self.running else self.period.end

    @property
    def uprm(self) -> dict:
        """`prm` limited to the chosen unit ($ru_code; None = every unit of the scope)."""
        return {**self.prm, "ru_code": self.ru_code}

    @property
    def unit_label(self) -> str:
        if self.ru_code is None:
            return self.scope.label
        row = self.units[self.units["ru_code"] == self.ru_code]
        return row["ru_name"].iloc[0] if len(row) else self.ru_code

    @property
    def period_label(self) -> str:
        return period_label(self.period, self.as_of)

    @property
    def shows(self) -> str:
        """What the figures of the page are about: "白云乡 · 2026年11月" (a running period says so)."""
        return f"{self.unit_label} · {self.period_label}"


def period_running(p: Period, now: dt.datetime) -> bool:
    return p.start <= now.date() < p.end


def period_label(p: Period, now: dt.datetime) -> str:
    return f"{p.label} (截至 今天)" if period_running(p, now) else p.label


def active_rule(p: Period) -> str:
    """How many active days make an account active in `p`, as the captions say it ([metrics] min_active_days for a
    month, week_active_days for a week)."""
    m = settings().metrics
    if p.kind == "week":
        return f"当周 7 天中有操作的天数 ≥ {m.week_active_days} 天"
    return f"当月有操作的天数 ≥ {m.min_active_days} 天"


def _months(first: dt.date, last: dt.date) -> list[Period]:
    out, p = [], Period.containing(last)
    while p.end > first and len(out) < 120:
        out.append(p)
        p = p.prev()
    return out


def _weeks(first: dt.date, last: dt.date) -> list[Period]:
    out, p = [], Period.containing(last, "week")
    while p.end > first and len(out) < 160:
        out.append(p)
        p = p.prev()
    return out


def default_period(periods: list[Period], today: dt.date) -> Period:
    """The newest period that is over (a month or week still running has barely any data: every unit near 0 %),
    else the newest one."""
    return next((p for p in periods if p.end <= today), periods[0])


def _owned(wkey: str, url_key: str, options: list, default):
    """One owner for a choice that is also kept in the URL: the widget's session state. The URL only seeds it
    when the widget has no state yet (a link opened, a reload); after that the widget's value is written to the
    URL and never read back, so a rerun cannot find the two disagreeing and flip between them."""
    v = st.session_state.get(wkey)
    if v not in options:
        v = st.query_params.get(url_key)
        v = v if v in options else default
    st.session_state[wkey] = v  # (re)assigned: a widget of the same key on another page does not carry its value


ALL = ""  # the widgets' value for "no filter" (a None value would show as no choice at all)


def _mirror(url_key: str, value) -> None:
    if value is None:
        if url_key in st.query_params:
            del st.query_params[url_key]
    elif st.query_params.get(url_key) != str(value):
        st.query_params[url_key] = value


UNIT_KEY = "_u"
UNIT_DRILL = ("c", "g")  # url_pick keys that choose within the unit


def pick_unit(code: str | None) -> None:
    """Choose the page's unit from elsewhere than the 单位 widget (a picked table row): a callback, run before the
    rerun, sets the widget's own state, so the widget shows it and the URL follows. The drill-downs below the unit
    (社区/村, 网格) start over."""
    st.session_state[UNIT_KEY] = code or ALL
    for k in UNIT_DRILL:
        st.session_state.pop(f"_{k}", None)


def page(title: str, *, unit_filter: bool = True, kinds: tuple[str, ...] = ("month", "week"),
         caption: str | None = None, key: str | None = None) -> Ctx:
    """Title, period selector and unit filter, kept in the URL (a link reproduces the view); stops the page
    with a clear message when there is no warehouse or no data in the chosen period. `key` (the page's url path)
    refuses the page to a role that may not use it. The unit filter only offers units of the caller's scope, so
    a `u` in the URL outside it is ignored (and the queries are limited to the scope anyway). The widgets own the
    choices (see _owned); the period defaults to the last one that is over."""
    if key:
        session.require_page(key)
    st.title(title)
    if caption:
        st.caption(caption)
    try:
        meta = data.meta()
    except db.NoWarehouse:
        st.info("尚未发布数据仓库: 请先导入数据 (python -m etl run)。")
        st.stop()
    scope = session.scope()
    if scope.office_name is not None or scope.by_county:  # a 部门用户 sees its office's reports, not units; the
        unit_filter = False  # 全市 view's units are the counties (a county is chosen in the sidebar: a drill)
    first, last = meta.get("data_first_day"), meta.get("data_last_day")
    if not first or not last:
        st.info("数据仓库中还没有任何业务数据 (账号操作、事件、重点人员报送)。请检查数据导入 (数据质量页)。")
        st.stop()
    first, last = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    as_of = now().replace(second=0)  # to the minute: a running period's queries stay cacheable
    c1, c2, c3 = st.columns([1, 2, 2])
    kind_labels = {"month": "月度", "week": "周"}
    _owned("_k", "k", list(kinds), kinds[0])
    kind = c1.radio("周期类型", kinds, format_func=kind_labels.get, horizontal=True, key="_k")
    periods = _months(first, last) if kind == "month" else _weeks(first, last)
    keys = [p.key for p in periods]
    _owned(f"_p_{kind}", "p", keys, default_period(periods, as_of.date()).key)
    pkey = c2.selectbox("统计周期", keys, format_func=lambda k: period_label(Period.parse(k), as_of),
                        key=f"_p_{kind}")
    units = data.q("units/reporting_units", scope)
    ru = None
    if unit_filter:
        codes = ([ALL] if scope.county_wide else []) + list(units["ru_code"])
        names = dict(zip(units["ru_code"], units["ru_name"]))
        _owned(UNIT_KEY, "u", codes, codes[0])
        ru = c3.selectbox("单位", codes, format_func=lambda c: f"{scope.label} (全部单位)" if c == ALL else names.get(c, c),
                          key=UNIT_KEY) or None
    _mirror("k", kind)
    _mirror("p", pkey)
    _mirror("u", ru)
    if ru is None:  # the drill-downs below a unit (社区/村, 网格) go with it
        for k in UNIT_DRILL:
            _mirror(k, None)
            st.session_state.pop(f"_{k}", None)
    period = Period.parse(pkey)
    cov = data.q("overview/coverage", scope, **period.params()).iloc[0]
    if not (cov["account_days"] or cov["events_reported"] or cov["events_closed"] or cov["kp_reports"]):
        st.info(f"{period.label} 没有数据 (数据覆盖 {first} 至 {last})。请选择其他周期。")
        st.stop()
    ctx = Ctx(period=period, scope=scope, ru_code=ru, units=units, as_of=as_of, data_first_day=first)
    breadcrumb(ctx)
    st.caption(f"当前显示: **{md(ctx.shows)}**" + (f"; 本期尚未结束, 数字截至 {as_of:%Y-%m-%d %H:%M}。" if ctx.running else ""))
    return ctx


def _to_city() -> None:
    st.session_state[session.COUNTY_KEY] = ALL
    pick_unit(None)
    session.go("city")


def breadcrumb(ctx: Ctx) -> None:
    """Where the figures are, in a city deployment: 示例市 › 东岭县 › 文昌镇, each level above the current one a
    button that goes back up (the city: the 全市 page, for a 市级 user only; the county: its units again). A county
    deployment shows no extra level: nothing is drawn."""
    if not auth.city_deployment():
        return
    ident = session.identity()
    steps = []  # (text, callback or None)
    if ident.city_level:
        steps.append((settings().city.name, _to_city if not ctx.scope.by_county or ctx.ru_code else None))
    if ctx.scope.county_code is not None:
        name = session.counties(ident).get(ctx.scope.county_code, ctx.scope.county_code)
        steps.append((name, (lambda: pick_unit(None)) if ctx.ru_code and ctx.scope.county_wide else None))
    if ctx.ru_code is not None:
        steps.append((ctx.unit_label, None))
    with st.container(horizontal=True, gap="small", key="gw_crumbs", vertical_alignment="center"):
        for i, (text, back) in enumerate(steps):
            if i:
                st.markdown("›")
            if back is None:
                st.markdown(f"**{md(text)}**")
            else:
                st.button(text, key=f"gw_crumb_{i}", type="tertiary", on_click=back)


def no_rows(df: pd.DataFrame, what: str) -> bool:
    if df.empty:
        st.info(f"没有{what}。")
        return True
    return False


def table(df: pd.DataFrame, columns: dict[str, str], *, name: str, key: str, rates: tuple[str, ...] = (),
          height: int | str | None = None, select: bool = False, source: Source | None = None,
          max_rows: int = TABLE_ROWS, on_pick=None):
    """Show `df` with Chinese column names (only the listed columns, in order), rates as percentages, an export;
    sized to its rows (up to `max_rows`, then it scrolls), the first column pinned; with select=True the user can
    pick one row (returns its index in `df`, else None); with `source` (a table with personal data) a role that
    may unmask gets the audited unmask and full export. With `on_pick` (a function of the picked row) a pick is an
    event, not a state: the function runs once, as a callback before the rerun (e.g. pick_unit, which sets the
    单位 widget), and the page does not rerun again by itself."""
    view = _shown(df, columns, rates)
    mode = "ignore"
    if on_pick is not None:
        def picked():
            rows = st.session_state[key].selection.rows
            if rows:
                on_pick(df.iloc[rows[0]])
        mode = picked
    elif select:
        mode = "rerun"
    event = st.dataframe(view, hide_index=True, height=height or table_height(len(view), max_rows), key=key,
                         column_config=column_config(view, first_pinned=True), placeholder=fmt.DASH,
                         on_select=mode, selection_mode="single-row")
    export_buttons(view, name, key=f"{key}-x")
    if source is not None:
        unmask_panel(df, source, columns, name=name, key=f"{key}-u")
    if select and on_pick is None and event and event.selection.rows:
        return df.index[event.selection.rows[0]]
    return None


def url_pick(key: str, label: str, options: list, labels: dict, *, container=st, none_label: str = "全部"):
    """A selectbox whose choice is kept in the URL under `key` (None = all); the widget owns it (see _owned)."""
    opts = [ALL] + list(options)
    _owned(f"_{key}", key, opts, ALL)
    value = container.selectbox(label, opts, format_func=lambda v: none_label if v == ALL else labels.get(v, v),
                                key=f"_{key}") or None
    _mirror(key, value)
    return value
