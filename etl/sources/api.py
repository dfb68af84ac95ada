"""The provincial HTTP API (docs/feeds.md, channel 3):

    GET {base}/api/v1/{dataset}?updated_since={ISO8601}&page={n}&page_size={m}     Authorization: Bearer {token}
    → {"data": [...], "page": n, "page_size": m, "total": t}                         pages start at 1

Every request has a deadline (`feeds.api_timeout_seconds` for connecting and receiving the whole page) and is
retried — 429 (waiting what Retry-After says), 5xx, time-outs, dropped connections, a body that is not complete
JSON, a page shorter than `total` implies — up to `feeds.api_max_retries` times with exponential back-off and
jitter. 401/403 stop the source at once (the token is wrong; retrying will not help). A page is used only when it
arrived whole and is consistent (`data` a list of JSON objects); pages are gathered into batches of about
`feeds.api_batch_rows` rows. When the server keeps answering with a page that cannot be used, that page fails
(BatchError: listed with its name, the dataset stops there, the others go on); when it cannot be reached, the
source stops. `updated_since` is sent with its Asia/Shanghai offset (`…T00:00:00+08:00`).

Watermarks (etl/sources/common.py): a scan asks for `updated_since = W − lookback`. The API is expected to return
rows in `updated_at` order, as the contract's simulator does; the client checks this on every page. While it
holds, each landed batch moves the watermark and the next request starts a fresh scan from it (keyset-style; a
killed run resumes from the last landed batch, and rows changing under the scan cannot shift a page boundary over
an unread row). When a page is out of order, the rest of that scan reads every page by number and the watermark
moves only at the end of the scan (a killed run then scans again; its batches are recognised by digest).
"""
from __future__ import annotations

import datetime as dt
import email.utils
import http.client
import json
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlencode, urlsplit

import pyarrow as pa

from core.config import Settings
from core.spec import DATASETS
from etl.lake import Lake
from etl.sources import api_token, cursor_for, redact, scrub
from etl.sources.common import (
    CANONICAL_TS,
    Batch,
    BatchError,
    DatasetError,
    DatasetMissing,
    SourceError,
    batch_name,
    finish,
    local_iso,
    records_to_table,
)


class Retryable(Exception):
    """A transient failure of one request: retried after a wait. `content`: the server answered, but with a body
    that cannot be used (not JSON, not a page of objects); when the retries are spent, that page — not the
    source — has failed (BatchError), and the other datasets are still pulled."""

    def __init__(self, msg: str, wait: float | None = None, content: bool = False):
        super().__init__(msg)
        self.wait = wait
        self.content = content


class HttpClient:
    def __init__(self, base: str, token: str | None, *, timeout: float, retries: int, backoff: float,
                 backoff_max: float, ca_file: str | None = None, log: Callable[[str], None] = print,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None):
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.log = log
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self.requests = 0
        self.retried = 0

    def scrub(self, text: str) -> str:
        return scrub(text, [self.token])

    def get_json(self, path: str, params: dict, validate: Callable[[dict], None] | None = None,
                 what: str = "") -> dict:
        """GET base/path?params → the JSON object, retried as the module docstring says."""
        url = f"{self.base}/{path.lstrip('/')}" + (f"?{urlencode(params)}" if params else "")
        what = what or path
        attempt = 0
        content = False
        while True:
            try:
                status, headers, body = self._once(url)
                if status == 200:
                    try:
                        # strict=False: a control character left unescaped in a string is text, not a broken page
                        obj = json.loads(body.decode("utf-8-sig"), strict=False)
                    except ValueError as exc:  # also UnicodeDecodeError: the contract's JSON is UTF-8
                        raise Retryable(f"响应不是完整的 JSON ({len(body)} 字节): {exc}", content=True) from None
                    except RecursionError:
                        raise Retryable(f"响应 JSON 嵌套过深 ({len(body)} 字节)", content=True) from None
                    if not isinstance(obj, dict):
                        raise Retryable("响应不是 JSON 对象", content=True)
                    if validate:
                        try:
                            validate(obj)
                        except Retryable as exc:
                            exc.content = True
                            raise
                        except (TypeError, ValueError, OverflowError) as exc:
                            raise Retryable(f"响应内容不符合接口约定: {exc}", content=True) from None
                    return obj
                if status in (401, 403):
                    raise SourceError(f"接口拒绝访问 (HTTP {status}): 请检查令牌 GRIDWATCH_API_TOKEN 或密钥文件")
                if status == 404:
                    raise DatasetMissing(f"接口没有 {path} (HTTP 404)")
                if status == 429 or 500 <= status < 600:
                    raise Retryable(f"HTTP {status}", _retry_after(headers.get("Retry-After")))
                msg = f"接口返回 HTTP {status}: {self.scrub(body[:200].decode('utf-8', 'replace'))}"
                if 400 <= status < 500:  # this request was refused (e.g. 400 for one dataset's parameters)
                    raise DatasetError(f"{what}: {msg}")
                raise SourceError(msg)
            except Retryable as exc:
                err, wait, content = str(exc), exc.wait, exc.content
            except TimeoutError as exc:
                err, wait, content = f"超时 ({self.timeout:g} 秒): {exc}", None, False
            except (http.client.HTTPException, ConnectionError, OSError) as exc:
                err, wait, content = f"连接中断: {type(exc).__name__}: {exc}", None, False
            attempt += 1
            if attempt > self.retries:
                if content:  # the server is there and answers; this one page cannot be used
                    raise BatchError(what, f"无法读取, 已重试 {self.retries} 次: {self.scrub(err)}")
                raise SourceError(f"接口请求失败 {what}, 已重试 {self.retries} 次: {self.scrub(err)}")
            if wait is None:
                wait = min(self.backoff_max, self.backoff * 2 ** (attempt - 1)) * self.rng.uniform(0.5, 1.0)
            wait = min(wait, self.backoff_max)
            self.retried += 1
            self.log(f"  … {what}: {self.scrub(err)}; {wait:.1f} 秒后重试 ({attempt}/{self.retries})")
            self.sleep(wait)

    def _once(self, url: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One request with a deadline over connecting and reading the whole body."""
        self.requests += 1
        u = urlsplit(url)
        deadline = time.monotonic() + self.timeout
        if u.scheme == "https":
            conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=self.timeout, context=self.ctx)
        else:
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=self.timeout)
        headers = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": "gridwatch-etl/1",
                   "Connection": "close"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request("GET", u.path + (f"?{u.query}" if u.query else ""), headers=headers)
            sock = conn.sock  # the response keeps reading from it after the connection lets go of it
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            resp = conn.getresponse()
            chunks = []
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("未在时限内收完响应")
                sock.settimeout(left)
                b = resp.read1(1 << 16)  # whatever has arrived: the deadline is checked between reads
                if not b:
                    break
                chunks.append(b)
            body = b"".join(chunks)
            if resp.length:  # the connection ended before Content-Length bytes came
                raise http.client.IncompleteRead(body, resp.length)
            return resp.status, resp.headers, body
        finally:
            conn.close()


def _retry_after(v: str | None) -> float | None:
    if not v:
        return None
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(v)
        return max(0.0, (when - dt.datetime.now(when.tzinfo)).total_seconds())
    except (TypeError, ValueError):
        return None


class ApiSource:
    kind = "api"
    prefix = "api"

    def __init__(self, url: str, settings: Settings, *, name: str | None = None, log: Callable[[str], None] = print,
                 sleep: Callable[[float], None] = time.sleep):
        self.url = url
        self.display = redact(url)
        self.name = name or self.display
        self.settings = settings
        self.log = log
        f = settings.feeds
        base = url.split("?", 1)[0].rstrip("/")
        if not base.endswith("/api/v1"):
            base += "/api/v1"
        token = api_token(settings, name)
        if token is not None and (not token.isascii() or any(ch in token for ch in "\r\n ")):
            raise SourceError("接口令牌含有非 ASCII 字符或空白, 不能放进 Authorization 头")
        self.client = HttpClient(base, token, timeout=f.api_timeout_seconds,
                                 retries=f.api_max_retries, backoff=f.api_backoff_seconds,
                                 backoff_max=f.api_backoff_max_seconds,
                                 ca_file=str(f.api_ca_file) if f.api_ca_file else None, log=log, sleep=sleep)

    def __enter__(self) -> ApiSource:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        pass

    def scrub(self, text: str) -> str:
        return self.client.scrub(text)

    def datasets(self, wanted: list[str] | None = None) -> list[str]:
        return [d for d in DATASETS if not wanted or d in wanted]

    def page(self, dataset: str, since: str | None, page: int, size: int) -> dict:
        """One page, whole and consistent: `data` is a list of JSON objects, `page` and `page_size` as asked,
        not shorter than `total` implies. `since` (canonical local time) is sent with its +08:00 offset."""
        params = {"page": page, "page_size": size}
        if since:
            params = {"updated_since": local_iso(since), **params}

        def validate(obj: dict) -> None:
            data = obj.get("data")
            if not isinstance(data, list):
                raise Retryable("响应中没有 data 数组")
            bad = next((i for i, r in enumerate(data) if not isinstance(r, dict)), None)
            if bad is not None:
                shown = json.dumps(data[bad], ensure_ascii=False)[:80]
                raise Retryable(f"data 中第 {bad + 1} 条记录不是 JSON 对象: {shown}")
            if obj.get("page") not in (None, page):
                raise Retryable(f"请求第 {page} 页, 收到第 {obj.get('page')!r} 页")
            psize = _count(obj.get("page_size"), "page_size") or size
            total = _count(obj.get("total"), "total")
            if len(data) > psize:
                raise Retryable(f"第 {page} 页有 {len(data)} 行, 多于 page_size {psize}")
            if total is not None and len(data) < psize and (page - 1) * psize + len(data) < total:
                raise Retryable(f"第 {page} 页不完整: {len(data)} 行, 总数 {total}")
            obj["page_size"], obj["total"] = psize, total

        return self.client.get_json(dataset, params, validate, what=f"{self.prefix}:{dataset} 第 {page} 页")

    def pull(self, dataset: str, lake: Lake, info: dict, load_time: dt.datetime) -> Iterator[Batch]:
        """Batches of new or changed records, oldest first. A page that cannot be used after the retries stops
        this dataset with a BatchError naming it (the batches before it are landed and committed; the rows from
        there on are asked for again next run). `info["watermark_to"]` is the watermark last saved."""
        f = self.settings.feeds
        size, batch_rows = f.api_page_size, f.api_batch_rows
        cur = cursor_for(lake, self.url, dataset, self.settings, load_time)
        if cur.damaged:
            info["watermark_reset"] = cur.damaged.name
            self.log(f"  ! {dataset}: 水位文件损坏, 已移到 {cur.damaged.name}; 从头读取 (已导入的批次按摘要跳过)")
        info.update(watermark_from=cur.watermark, watermark_to=cur.watermark, rows=0, batches=0, requests=0,
                    pages=0)
        req0, retried0 = self.client.requests, self.client.retried
        ordered = True  # pages come in updated_at order (checked on every page)
        since, page, last_ts = cur.since(), 1, ""
        buf: list[pa.Table] = []
        unknown: set[str] = set()
        nbuf = 0

        def save(state: dict) -> None:
            cur.save(state)
            info["watermark_to"] = state["watermark"]

        while True:
            try:
                body = self.page(dataset, since, page, size)
            finally:
                info["requests"] = self.client.requests - req0
                info["retries"] = self.client.retried - retried0
            data = body["data"]
            psize, total = body["page_size"], body["total"]
            info["pages"] += 1
            try:
                t, unk = records_to_table(dataset, data, info)
            except Exception as exc:  # noqa: BLE001 — this page is unreadable; no other page or dataset is
                raise BatchError(f"{self.prefix}:{dataset} 第 {page} 页", f"{type(exc).__name__}: {exc}",
                                 rows=len(data)) from None
            unknown.update(unk)
            ua = [v for v in t.column("updated_at").to_pylist() if v is not None and _CANON.match(v)]
            if ordered and (any(a > b for a, b in zip(ua, ua[1:])) or (ua and ua[0] < last_ts)):
                ordered = False
                self.log(f"  ! {dataset}: 接口返回的记录未按 updated_at 排序; 本次按页码读完后再推进水位")
            if ua:
                last_ts = max(last_ts, ua[-1])
            t = cur.filter(t)
            cur.advance(t)
            if t.num_rows:
                buf.append(t)
                nbuf += t.num_rows
            last = len(data) < psize or (total is not None and (page - 1) * psize + len(data) >= total)
            if nbuf >= batch_rows or last:
                table = _concat(dataset, buf)
                state = cur.state()
                commit = (lambda s=state: save(s)) if (ordered or last) else (lambda: None)
                info["rows"] += table.num_rows
                info["batches"] += bool(table.num_rows)
                yield Batch(name=batch_name(self.prefix, dataset, table), dataset=dataset, table=table, fmt="api",
                            unknown_columns=sorted(unknown), commit=commit)
                buf, nbuf = [], 0
                if last:
                    break
                if ordered and cur.watermark is not None and cur.since() != since:
                    # a fresh scan from the new watermark: nothing can slip between pages
                    since, page, last_ts = cur.since(), 1, ""
                    continue
            page += 1


_CANON = re.compile(CANONICAL_TS)


def _count(v: object, what: str) -> int | None:
    """A page's `page_size` / `total`: a non-negative whole number, or absent."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"{what} 不是整数: {v!r}")
    n = int(v) if not isinstance(v, float) or v.is_integer() else None
    if n is None or n < 0:
        raise ValueError(f"{what} 不是非负整数: {v!r}")
    return n


def _concat(dataset: str, tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return finish(dataset, {}, 0)
    t = pa.concat_tables(tables).combine_chunks()
    names = DATASETS[dataset].names
    return finish(dataset, {c: t.column(c) for c in names}, t.num_rows)
