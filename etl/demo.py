"""The demo county (示例县) generator.

`generate(out, ...)` writes into folder `out` the file drop the feeding systems would deliver for a synthetic
county (see docs/feeds.md and docs/metrics.md), with the real-world mess injected at known rates, and returns the
"truth": what was written and what the warehouse must end up holding. It is deterministic for a given
(seed, months, end_month): same arguments, byte-identical files.

Layout of this module: the calendar → the county (units, boundaries via etl.demo_geo) → accounts → events and
their flow → key-person reports → monthly deliveries (mess injected per file, then written) for the small
datasets → collection_stats and activity_log month by month (vectorised) → the truth.
"""
from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import json
import math
import random
import re
import time
import zlib
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import xlsxwriter

from core.spec import (
    DATASETS,
    EVENT_CATEGORIES,
    EVENT_SOURCES,
    FLOW_ACTIONS,
    HANDLING_LEVELS,
    KP_ALIASES,
    KP_CATEGORIES,
    KP_OFFICES,
    OP_TYPES,
    SATISFACTION,
    TERMINALS,
)
from etl import demo_geo
from etl.coords import gcj02_to_bd09, wgs84_to_gcj02

TRUTH_FILE = "_demo_truth.json"
COUNTY_CODE = "510799"
COUNTY_NAME = "示例县"
SYSTEM = "示例县网格化服务管理信息系统"

# The 乡镇 of the demo county, in the bulletin's order. 文昌镇 is the county seat.
TOWNSHIPS = ("文昌镇", "经开区", "宏仁乡", "卧龙镇", "玛瑙镇", "石牛镇", "仁和镇", "石台乡", "仙鹅乡", "文兴乡",
             "豢龙镇", "交泰乡", "马迎乡", "二洞乡", "七曲山镇", "长卿镇", "双峰乡", "双板镇", "许州镇", "自强镇",
             "建兴乡", "东石乡", "马鸣乡", "定远乡", "小垭乡", "大新乡", "三泉乡", "白云乡", "宝石乡", "仙峰乡",
             "观义镇", "黎雅镇")
SEAT, ZONE = "文昌镇", "经开区"
SEAT_COMMUNITIES = ("城东社区", "城西社区", "城南社区", "城北社区")  # the bulletin's 文昌镇四个社区
ZONE_COMMUNITIES = ("长兴社区", "金龙社区", "新城社区", "工业园社区")

# How each 乡镇 works (the variety the bulletin is about). ACTIVITY: mean daily diligence of its accounts.
ACTIVITY = {"文昌镇": .88, "经开区": .86, "宏仁乡": 1.0, "卧龙镇": .96, "玛瑙镇": .92, "石牛镇": .90, "仁和镇": .86,
            "石台乡": .80, "仙鹅乡": .84, "文兴乡": .91, "豢龙镇": .78, "交泰乡": .82, "马迎乡": .75, "二洞乡": .70,
            "七曲山镇": .80, "长卿镇": .62, "双峰乡": .58, "双板镇": .66, "许州镇": .83, "自强镇": .77,
            "建兴乡": .72, "东石乡": .80, "马鸣乡": .68, "定远乡": .74, "小垭乡": .70, "大新乡": .87,
            "三泉乡": .79, "白云乡": .66, "宝石乡": .81, "仙峰乡": .73, "观义镇": .85, "黎雅镇": .76}
PERFECT = ("宏仁乡",)  # every grid worker on ≥ 20 distinct days every month
NEAR_PERFECT = ("卧龙镇",)
ZERO_MONTHS = {"长卿镇": 3, "双峰乡": 4, "双板镇": 2}  # no operation at all in their last n months
BACKLOG = {"二洞乡": .30, "马鸣乡": .25, "白云乡": .20, "小垭乡": .22}  # share of events never closed
CAMPAIGN = {"马鸣乡": 4, "小垭乡": 1}  # clears its backlog in month (end − n + 1)
# Department offices that sign key-person reports: fast (hours), slow (days), late (after the month ends).
OFFICE_PROFILE = {"文兴派出所": "fast", "大新派出所": "slow", "宏仁派出所": "fast", "文昌派出所": "slow",
                  "石牛派出所": "late", "卧龙司法所": "fast", "仁和司法所": "late", "宏仁卫生院": "fast",
                  "文昌卫生院": "slow"}
OPERATING_OFFICES = ("文兴派出所", "大新派出所", "卧龙司法所", "宏仁派出所", "宏仁卫生院")
OFFICE_ROLES = {"police": "派出所", "justice": "司法所", "health": "卫生院"}
KP_COLUMNS = {"police": ("police_station", "police_signed_at"), "justice": ("justice_office", "justice_signed_at"),
              "health": ("health_center", "health_signed_at")}

LIMIT_HOURS = {"矛盾纠纷": 168, "治安隐患": 72, "安全隐患": 48, "环境卫生": 120, "市容秩序": 120, "民生服务": 240,
               "政策咨询": 72, "其他": 168}
CATEGORY_WEIGHT = {"矛盾纠纷": 18, "治安隐患": 9, "安全隐患": 14, "环境卫生": 20, "市容秩序": 10, "民生服务": 16,
                   "政策咨询": 8, "其他": 5}
SOURCE_WEIGHT = {"网格员巡查": 55, "群众反映": 21, "部门移交": 6, "上级交办": 5, "12345热线": 10, "其他": 3}
TOP_DOWN = ("部门移交", "上级交办", "12345热线")
# what a working day is made of after the login: grid workers / 社区·乡镇·县 staff / department offices
# (事件上报 and the sign-offs are added where the events and reports really happened)
OP_WEIGHT = ({"巡查": .34, "信息采集": .2, "信息更新": .2, "事件处置": .04, "民情日志": .12, "其他": .1},
             {"信息更新": .3, "事件处置": .35, "其他": .35},
             {"签收": .5, "其他": .5})
LEVEL_WEIGHT = (18, 46, 29, 7)  # 网格, 社区, 乡镇, 县
LEVEL_OF_LEN = {15: "网格", 12: "社区", 9: "乡镇", 6: "县"}

ACCOUNT_PREFIX = {"网格员": "WG", "网格长": "WZ", "社区管理员": "SQ", "乡镇管理员": "XZ", "县级管理员": "XJ",
                  "派出所": "PCS", "司法所": "SFS", "卫生院": "WSY"}
FORMAT_EXT = {"xlsx": "xlsx", "csv-gbk": "csv", "csv-utf8-bom": "csv", "csv-utf8": "csv", "json": "json",
              "jsonl": "jsonl"}
FORMAT_CYCLE = {
    "accounts": ("xlsx", "csv-utf8-bom", "json", "csv-gbk"),
    "activity_log": ("csv-gbk", "csv-utf8", "csv-utf8-bom"),
    "events": ("xlsx", "csv-gbk", "jsonl", "csv-utf8-bom", "xlsx", "json"),
    "event_flow": ("csv-utf8", "jsonl", "csv-gbk", "xlsx", "json", "csv-utf8-bom"),
    "key_person_reports": ("xlsx", "csv-utf8-bom", "json", "xlsx", "csv-gbk", "jsonl"),
    "collection_stats": ("jsonl", "csv-utf8", "csv-gbk", "xlsx", "json", "csv-utf8-bom"),
}
BANNER_TITLES = {"org_units": "组织机构", "accounts": "系统账号清单", "events": "事件台账", "event_flow": "事件流转记录",
                 "key_person_reports": "重点人员信息报送台账", "collection_stats": "基础信息采集统计"}

# Chinese lunar new year (Spring Festival) dates; the fortnight around it is a holiday.
LUNAR_NEW_YEAR = {2018: (2, 16), 2019: (2, 5), 2020: (1, 25), 2021: (2, 12), 2022: (2, 1), 2023: (1, 22),
                  2024: (2, 10), 2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13),
                  2030: (2, 3), 2031: (1, 23), 2032: (2, 11), 2033: (1, 31), 2034: (2, 19), 2035: (2, 8)}

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任"
            "沈姚卢姜崔钟谭陆汪范金石廖贾夏付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万严向汤文蒲敬")
GIVEN = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志文红玉林德成海燕春梅云福荣学兵辉斌鹏飞琴"
         "波宇浩凯俊鑫婷雪慧莉萍晓玲丹欢佳蓉川蜀成渝江发贵富清长生永安兴宏光耀思雨欣怡涵子轩浩然")
PHONE_PREFIX = ("133", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "177", "180",
                "181", "182", "183", "187", "188", "189", "191", "199")
ID_AREAS_LOCAL = ("510799",)
ID_AREAS_OTHER = ("500101", "500112", "500233", "510104", "510107", "510681", "510722", "511302", "511621",
                  "513022", "520102", "530111", "620102", "610104", "420106", "430104", "450103", "360102")
VILLAGE_HEAD = "青白金石红新双柏桂龙凤马牛鹤松柳桃梨花清永太长高黄水山东西南北大小安和兴福平胜光明团结民乐盐"
VILLAGE_TAIL = "龙马桥垭星华河林花山坝湾坪沟岩田溪峰岭塘庙门口坡场台湖泉沙柳桂松柏园"

SUMMARY = {
    "矛盾纠纷": ("{p}村民{s}某与邻居{s2}某因{x}发生纠纷，双方情绪激动，请求调解。",
             "{p}{s}某反映与{s2}某{x}问题长期未解决，存在矛盾激化风险。"),
    "治安隐患": ("{p}{x}，存在治安隐患。",),
    "安全隐患": ("{p}{x}，需尽快处置。", "巡查发现{p}{x}，已设置警示标志。"),
    "环境卫生": ("{p}{x}，群众意见较大。", "{p}{x}。"),
    "市容秩序": ("{p}{x}，影响通行。", "{p}{x}。"),
    "民生服务": ("{p}{x}。", "{p}群众反映{x}，请协调解决。"),
    "政策咨询": ("{p}群众{x}。",),
    "其他": ("{p}群众反映{x}。",),
}
SUMMARY_FILL = {
    "矛盾纠纷": ("宅基地界限", "土地流转费用", "赡养老人", "房屋漏水", "噪音扰民", "林地权属", "务工工资拖欠", "借款"),
    "治安隐患": ("夜间有陌生人员在仓库附近徘徊", "出租屋内人员频繁更换且未登记", "路口监控损坏", "有人聚集打牌赌博",
             "电动车频繁被盗"),
    "安全隐患": ("一处危房墙体开裂", "山体出现裂缝有滑坡风险", "河堤护栏损毁", "居民楼消防通道被杂物堵塞",
             "电线私拉乱接", "燃气管道老化", "道路塌陷"),
    "环境卫生": ("生活垃圾堆放未及时清运", "沟渠淤塞发臭", "畜禽粪污直排", "有人焚烧秸秆", "公厕无人保洁"),
    "市容秩序": ("占道经营", "车辆乱停乱放", "违规搭建彩钢棚", "广告牌破损", "建筑垃圾乱倒"),
    "民生服务": ("独居老人行动不便需要帮扶", "自来水停水两天", "路灯损坏", "医保缴费遇到问题", "低保申请进度"),
    "政策咨询": ("咨询城乡居民养老保险缴费政策", "咨询退役军人优待政策", "咨询耕地地力补贴发放时间",
             "咨询危房改造补助政策"),
    "其他": ("需协调的其他事项", "邻里互助事项"),
}
FLOW_NOTE = {"受理": "已受理", "交办": "请于时限内处置并反馈", "上报上级": "超出处置权限，提请上级协调",
             "处置": "已到现场处置", "办结": "处置完毕，予以办结", "验证": "经回访核实，问题已解决",
             "催办": "已超办理时限，请抓紧办理"}

# Mess: rate per row of a file (stochastic rounding), per kind.
RATE = {"ts_formats": .006, "code_spaces": .003, "category_alias": .01, "unknown_code": .002,
        "id_lowercase_x": .005, "id_15_digit": .004, "id_excel_number": .01, "coord_swapped": .003,
        "coord_zero": .003, "coord_bd09": .003, "unknown_grid_ref": .003, "unknown_account_ref": .002,
        "closed_before_reported": .003, "future_time": .002, "dup_key_in_file": .003, "missing_required": .002,
        "bad_required_ts": .002}
UNKNOWN_CODE = {"org_units": ("unit_kind", "园区网格"), "accounts": ("role", "网格协管员"),
                "activity_log": ("op_type", "视频巡查"), "events": ("category", "网络舆情"),
                "event_flow": ("action", "转办"), "key_person_reports": ("category", "留守儿童")}
CODE_COLS = {"org_units": ("level", "unit_kind"), "accounts": ("role", "status"),
             "activity_log": ("op_type", "terminal"), "events": ("category", "source", "status"),
             "event_flow": ("action",), "key_person_reports": ("category",)}
# timestamp columns: "min" = formats that keep the minute, "any" = also date only, "date" = a date column
TS_COLS = {"org_units": {"updated_at": "any"}, "accounts": {"opened_at": "any", "updated_at": "min"},
           "activity_log": {"op_time": "any"},
           "events": {"reported_at": "min", "deadline": "any", "closed_at": "min"},
           "event_flow": {"action_time": "min"},
           "key_person_reports": {"reported_at": "min", "police_signed_at": "min", "justice_signed_at": "min",
                                  "health_signed_at": "min"},
           "collection_stats": {"stat_date": "date", "updated_at": "min"}}
COORD_COLS = {"org_units": ("center_lon", "center_lat"), "activity_log": ("lon", "lat"), "events": ("lon", "lat")}
FUTURE_COL = {"org_units": "updated_at", "accounts": "opened_at", "activity_log": "op_time",
              "events": "reported_at", "event_flow": "action_time", "key_person_reports": "reported_at",
              "collection_stats": "updated_at"}
# (column to empty, whether the key is emptied too) for missing_required; the ts column for bad_required_ts
MISSING = {"org_units": ("unit_name", "level"), "accounts": ("unit_code", "role", "account_id"),
           "activity_log": ("account_id", "op_type", "log_id"), "events": ("grid_code", "category", "event_id"),
           "event_flow": ("action", "action_time"), "key_person_reports": ("grid_code", "category", "report_id"),
           "collection_stats": ("grid_code",)}
BAD_TS_COL = {"org_units": "updated_at", "accounts": "updated_at", "activity_log": "op_time",
              "events": "reported_at", "event_flow": "action_time", "key_person_reports": "reported_at",
              "collection_stats": "stat_date"}
BAD_TS = ("不详", "{y}-13-45 25:61", "0000-00-00 00:00:00", "未知", "#VALUE!")
UPDATED_FALLBACK = {"activity_log": "op_time", "event_flow": "action_time"}

EXCEL_EPOCH = calendar.timegm((1899, 12, 30, 0, 0, 0))
# the dictionaries above are keyed by the contract's code lists: keep them in step with core.spec
assert set(CATEGORY_WEIGHT) == set(LIMIT_HOURS) == set(SUMMARY) == set(SUMMARY_FILL) == set(EVENT_CATEGORIES)
assert set(SOURCE_WEIGHT) == set(EVENT_SOURCES) and set(TOP_DOWN) <= set(EVENT_SOURCES)
assert all(set(w) <= set(OP_TYPES) for w in OP_WEIGHT) and set(FLOW_NOTE) <= set(FLOW_ACTIONS)
assert set(OFFICE_ROLES) == {k for v in KP_OFFICES.values() for k in v} and set(KP_COLUMNS) == set(OFFICE_ROLES)
DAY = 86400
HOUR = 3600
INF = float("inf")


# ---------------------------------------------------------------------------------------------------------------
# small helpers
def _crc(s: str) -> int:
    return zlib.crc32(s.encode("utf-8"))


def _sec(y: int, m: int, d: int, hh: int = 0, mi: int = 0, ss: int = 0) -> int:
    return calendar.timegm((y, m, d, hh, mi, ss))


def _fmt(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(t)))


def _fmt_date(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(int(t)))


def _parse(s: str) -> int:
    """Standard 'YYYY-MM-DD HH:MM:SS' (or date) → seconds."""
    if len(s) == 10:
        return _sec(int(s[:4]), int(s[5:7]), int(s[8:10]))
    return _sec(int(s[:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]))


def _add_month(y: int, m: int, k: int) -> tuple[int, int]:
    i = y * 12 + (m - 1) + k
    return i // 12, i % 12 + 1


def _short(town: str) -> str:
    return town[:-1] if town[-1] in "镇乡" else town


def _id_check(body17: str) -> str:
    w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * k for c, k in zip(body17, w)) % 11]


def id_number(R: random.Random, areas=ID_AREAS_LOCAL, years=(1950, 2004)) -> str:
    y = R.randint(*years)
    m = R.randint(1, 12)
    d = R.randint(1, calendar.monthrange(y, m)[1])
    body = f"{R.choice(areas)}{y:04d}{m:02d}{d:02d}{R.randint(1, 999):03d}"
    return body + _id_check(body)


def _person(R: random.Random) -> str:
    return R.choice(SURNAMES) + "".join(R.choice(GIVEN) for _ in range(R.choice((1, 2, 2, 2))))


class Serial(float):
    """An Excel serial date: written as a bare number in xlsx and csv."""


class NumId(int):
    """An ID number an Excel user typed as a number: a numeric xlsx cell (precision lost beyond 15 digits)."""


# ---------------------------------------------------------------------------------------------------------------
class _Gen:
    def __init__(self, seed: int, months: int, end_month: str | None, progress, county_index: int = 0):
        self.county_index = int(county_index)
        if not 0 <= self.county_index < 100:
            raise ValueError("county_index must be 0–99")
        if months < 1:
            raise ValueError("months must be ≥ 1")
        if end_month is None:
            today = dt.date.today()
            y, m = _add_month(today.year, today.month, -1)
        else:
            y, m = (int(v) for v in end_month.split("-"))
        self.seed, self.M = int(seed), months
        self.ym = [_add_month(y, m, k - months + 1) for k in range(months)]
        nxt = [_add_month(yy, mm, 1) for yy, mm in self.ym]
        self.mstart = np.array([_sec(yy, mm, 1) for yy, mm in self.ym] + [_sec(*nxt[-1], 1)], dtype=np.int64)
        self.export = [f"{yy:04d}{mm:02d}01" for yy, mm in nxt]
        self.start, self.end = int(self.mstart[0]), int(self.mstart[-1])
        self.mstart_list = self.mstart.tolist()
        # future_time mess: a time 6 months after the last month of data — later than any load soon after the
        # export, and within [etl] max_future_days (a time more than a year ahead is out of range, not "future")
        self.future_ym = _add_month(*self.ym[-1], 6)
        self.progress = progress or (lambda f, msg: None)
        days = np.arange(self.start // DAY, self.end // DAY)
        self.days = days
        self.day_month = np.searchsorted(self.mstart, days * DAY, side="right") - 1
        self.weekend = ((days + 3) % 7) >= 5
        self.holiday = np.array([self._holiday(int(d)) for d in days])
        self.truth_files: dict[str, dict] = {}
        self.mess: dict[str, dict[str, int]] = {d: {} for d in DATASETS}
        self.quarantine = {d: {"missing_required": 0, "bad_required_ts": 0} for d in DATASETS}
        self.rows_delivered = {d: 0 for d in DATASETS}
        self.fresh = 0  # counter for keys that appear nowhere else

    def rng(self, tag: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.M, int(self.mstart[0] // DAY), _crc(tag)])

    def R(self, tag: str) -> random.Random:
        return random.Random(self.seed * 1_000_003 + self.M * 7919 + int(self.mstart[0] // DAY) * 31 + _crc(tag))

    @staticmethod
    def _holiday(day: int) -> float:
        d = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        mo, da = LUNAR_NEW_YEAR.get(d.year, (2, 5))
        lny = dt.date(d.year, mo, da)
        if -2 <= (d - lny).days <= 12:
            return 0.12
        if (d.month, d.day) >= (10, 1) and (d.month, d.day) <= (10, 7):
            return 0.2
        if d.month == 5 and d.day <= 5:
            return 0.3
        if (d.month, d.day) in ((1, 1), (4, 4), (4, 5)):
            return 0.4
        return 1.0

    def month_of(self, t: float) -> int:
        """Month index of time t (−1 before the period, M after)."""
        return bisect_right(self.mstart_list, t) - 1 if t < self.end else self.M

    def workhours(self, t: float, R: random.Random) -> float:
        """Move t into working hours (08:00–20:00): early → 08:xx the same day, late → 08:xx the next day."""
        day, sod = divmod(int(t), DAY)
        if sod < 8 * HOUR:
            return day * DAY + 8 * HOUR + R.randint(0, 3600)
        if sod >= 20 * HOUR:
            return (day + 1) * DAY + 8 * HOUR + R.randint(0, 3600)
        return t

    # -----------------------------------------------------------------------------------------------------------
    def run(self, out: Path) -> dict:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        old = out / TRUTH_FILE
        if old.exists():  # a previous demo build here: remove exactly its files, nothing else
            for name in json.loads(old.read_text(encoding="utf-8")).get("files", {}):
                (out / name).unlink(missing_ok=True)
            old.unlink()
        self.progress(0.01, "正在生成行政区划与网格边界")
        self.build_units()
        self.progress(0.08, "正在生成系统账号")
        self.build_accounts()
        self.progress(0.12, "正在生成事件与流转记录")
        self.build_events()
        self.progress(0.22, "正在生成重点人员报送")
        self.build_reports()
        self.progress(0.26, "正在写出组织机构、账号、事件与报送")
        self.deliver_small()
        self.progress(0.40, "正在生成基础信息采集统计")
        self.deliver_collection()
        self.deliver_activity()
        truth = self.truth()
        (out / TRUTH_FILE).write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
        self.progress(1.0, "示例数据生成完成")
        return truth

    # ------------------------------------------------------------------------------------------- the county ---
    def build_units(self):
        R, rng = self.R("units"), self.rng("units")
        heads = [a + b for a in VILLAGE_HEAD for b in VILLAGE_TAIL if a != b]
        R.shuffle(heads)
        taken = {_short(t) for t in TOWNSHIPS}
        names = iter(h for h in heads if h not in taken)
        plan = []
        for i, town in enumerate(TOWNSHIPS):
            if town == SEAT:
                p = {"urban_km": 2.4, "compass": True, "comms": list(SEAT_COMMUNITIES),
                     "comm_grids": [R.randint(25, 31) for _ in range(4)], "n_vill": 6}
            elif town == ZONE:
                p = {"urban_km": 2.0, "comms": list(ZONE_COMMUNITIES),
                     "comm_grids": [R.randint(8, 12) for _ in range(4)], "n_vill": 4}
            else:
                p = {"urban_km": R.uniform(0.8, 1.2), "comms": [_short(town) + "社区"],
                     "comm_grids": [R.randint(3, 7)], "n_vill": R.randint(5, 12)}
            p["vills"] = [next(names) + "村" for _ in range(p["n_vill"])]
            p["vill_grids"] = [R.choice((2, 3, 3, 3, 4)) for _ in range(p["n_vill"])]
            plan.append(p)
        total = sum(sum(p["comm_grids"]) + sum(p["vill_grids"]) for p in plan)
        while not 1060 <= total <= 1150:  # keep the county at about 1,100 grids
            p = plan[R.randrange(2, len(plan))]
            j = R.randrange(len(p["vill_grids"]))
            step = 1 if total < 1060 else -1
            if 1 <= p["vill_grids"][j] + step <= 5:
                p["vill_grids"][j] += step
                total += step
        geo = demo_geo.layout(rng, plan)

        self.units: list[dict] = []
        self.grids: list[int] = []  # unit indexes of grids
        self.town_units: list[int] = []

        def add(code, name, level, parent, kind, geom, town, center=None):
            if center is None:
                p = geom.point_on_surface()
                center = (p.x, p.y)
            glon, glat = wgs84_to_gcj02(center[0], center[1])
            u = {"code": code, "name": name, "level": level, "parent": parent, "kind": kind, "geom": geom,
                 "town": town, "lon": round(float(glon), 6), "lat": round(float(glat), 6), "hh": 0, "pop": 0,
                 "sigma": math.sqrt(geom.area) / 4}
            self.units.append(u)
            return len(self.units) - 1

        add(COUNTY_CODE, COUNTY_NAME, "县", None, None, geo["county"], -1, geo["towns"][0]["seat"])
        special = {("文昌镇", "城东社区", 3): "示例县中学专属网格", ("文昌镇", "城北社区", 2): "文昌小学专属网格",
                   ("文昌镇", "城西社区", 4): "城西农贸市场专属网格", ("经开区", "工业园社区", 1): "工业园区企业专属网格",
                   ("玛瑙镇", "玛瑙社区", 1): "玛瑙场镇农贸市场专属网格", ("许州镇", "许州社区", 2): "许州中心小学专属网格"}
        for t, (town, p, g) in enumerate(zip(TOWNSHIPS, plan, geo["towns"])):
            tcode = f"{COUNTY_CODE}{t + 1:03d}"
            kind = "开发区" if town == ZONE else town[-1]
            tu = add(tcode, town, "乡镇", COUNTY_CODE, kind, g["geom"], t, g["seat"])
            self.town_units.append(tu)
            for j, (nm, c) in enumerate(zip(p["comms"] + p["vills"], g["comms"] + g["vills"])):
                is_comm = j < len(p["comms"])
                ccode = f"{tcode}{j + 1:03d}" if is_comm else f"{tcode}{200 + j - len(p['comms']) + 1:03d}"
                cu = add(ccode, nm, "社区" if is_comm else "村", tcode, None, c["geom"], t)
                for s, gg in enumerate(c["grids"]):
                    gname = f"{nm}第{s + 1}网格"
                    gkind = "城镇网格" if is_comm else "农村网格"
                    hh = R.randint(300, 500)
                    sp = special.get((town, nm, s + 1))
                    if sp:
                        gname, gkind, hh = sp, "专属网格", R.randint(20, 120)
                    elif town == ZONE and not is_comm and s == len(c["grids"]) - 1 and j < len(p["comms"]) + 3:
                        gkind, hh = "待开发网格", R.randint(40, 160)
                    gu = add(f"{ccode}{s + 1:03d}", gname, "网格", ccode, gkind, gg, t)
                    self.units[gu].update(hh=hh, pop=int(hh * R.uniform(2.5, 3.2)), comm=cu)
                    self.grids.append(gu)
        by_code = {u["code"]: i for i, u in enumerate(self.units)}
        self.by_code = by_code
        for u in reversed(self.units):  # children come after parents: sum upwards
            if u["parent"]:
                par = self.units[by_code[u["parent"]]]
                par["hh"] += u["hh"]
                par["pop"] += u["pop"]
        self.grid_town = np.array([self.units[g]["town"] for g in self.grids])
        self.town_grids = np.bincount(self.grid_town, minlength=len(TOWNSHIPS))
        # months from which a 乡镇 does nothing at all
        self.zero_from = np.full(len(TOWNSHIPS), self.M, dtype=int)
        for town, n in ZERO_MONTHS.items():
            self.zero_from[TOWNSHIPS.index(town)] = max(self.M - n, 1) if self.M >= 2 else 0
        self.zero_from_sec = [float(self.mstart[z]) if z < self.M else INF for z in self.zero_from]
        self.activity_mean = np.array([ACTIVITY[t] for t in TOWNSHIPS]) + self.rng("act").uniform(-.02, .02, 32)
        self.activity_mean[[TOWNSHIPS.index(t) for t in PERFECT]] = 1.0

    # ------------------------------------------------------------------------------------------- accounts -----
    def build_accounts(self):
        R = self.R("accounts")
        phones: set[str] = set()

        def phone():
            while True:
                p = R.choice(PHONE_PREFIX) + f"{R.randrange(10 ** 8):08d}"
                if p not in phones:
                    phones.add(p)
                    return p

        seq = {k: 0 for k in ACCOUNT_PREFIX}
        self.acc: list[dict] = []
        pre_lo, pre_hi = _sec(2019, 3, 1), self.start - 20 * DAY

        def in_hours(t0, t1):
            day = R.randint(int(t0) // DAY, max(int(t0) // DAY, int(t1) // DAY - 1))
            return day * DAY + R.randint(8 * HOUR + 1800, 17 * HOUR + 1800)

        def new(role, unit, town, opened, grid=-1, dept=None, closed=None):
            seq[role] += 1
            a = {"id": f"{ACCOUNT_PREFIX[role]}{seq[role]:05d}", "name": _person(R), "phone": phone(),
                 "unit": unit, "role": role, "dept": dept, "town": town, "grid": grid, "opened": opened,
                 "closed": closed, "changes": []}
            self.acc.append(a)
            return a

        calm = set(PERFECT) | set(NEAR_PERFECT) | set(ZERO_MONTHS)
        movable = [g for g in self.grids if TOWNSHIPS[self.units[g]["town"]] not in calm]
        picks = R.sample(movable, 28)
        vacant, swapped, history = set(picks[:8]), set(picks[8:20]), set(picks[20:])
        lo, hi = self.start + 2 * DAY, self.end - 2 * DAY

        for g in self.grids:
            u = self.units[g]
            if g in history:  # an earlier worker of this grid, closed before the period
                o = in_hours(pre_lo, pre_hi - 400 * DAY)
                new("网格员", u["code"], u["town"], o, g, closed=in_hours(o + 200 * DAY, pre_hi))
            if g in vacant:
                new("网格员", u["code"], u["town"], in_hours(lo, hi), g)
            elif g in swapped:
                t = in_hours(lo, hi)
                new("网格员", u["code"], u["town"], in_hours(pre_lo, pre_hi), g, closed=t)
                new("网格员", u["code"], u["town"], self.workhours(t + R.randint(600, 3 * DAY), R), g)
            else:
                new("网格员", u["code"], u["town"], in_hours(pre_lo, pre_hi), g)
        comms = [i for i, u in enumerate(self.units) if u["level"] in ("社区", "村")]
        first_grid = {}
        for g in self.grids:
            first_grid.setdefault(self.units[g]["parent"], g)
        leaders = [c for c in comms if self.units[c]["level"] == "社区" or R.random() < 0.06]
        self.comm_admin: dict[str, int] = {}
        self.leader: dict[str, int] = {}
        for c in leaders:
            u = self.units[c]
            g = first_grid[u["code"]]
            new("网格长", self.units[g]["code"], u["town"], in_hours(pre_lo, pre_hi), g)
            self.leader[u["code"]] = len(self.acc) - 1
        for c in comms:
            u = self.units[c]
            if u["level"] == "社区":
                new("社区管理员", u["code"], u["town"], in_hours(pre_lo, pre_hi))
                self.comm_admin[u["code"]] = len(self.acc) - 1
        self.town_admin = []
        for t, tu in enumerate(self.town_units):
            new("乡镇管理员", self.units[tu]["code"], t, in_hours(pre_lo, pre_hi))
            self.town_admin.append(len(self.acc) - 1)
        self.county_admins = []
        for _ in range(3):
            new("县级管理员", COUNTY_CODE, -1, in_hours(pre_lo, pre_hi))
            self.county_admins.append(len(self.acc) - 1)
        new("县级管理员", COUNTY_CODE, -1, in_hours(lo, hi))
        self.county_admins.append(len(self.acc) - 1)
        self.office: dict[str, int] = {}
        for t, tu in enumerate(self.town_units):
            for role in ("派出所", "司法所", "卫生院"):
                dept = _short(TOWNSHIPS[t]) + role
                new(role, self.units[tu]["code"], t, in_hours(pre_lo, pre_hi), dept=dept)
                self.office[dept] = len(self.acc) - 1
        # closures (网格长 not replaced) and phone changes
        ok = [i for i, a in enumerate(self.acc) if a["closed"] is None and a["opened"] < self.start
              and TOWNSHIPS[a["town"]] not in calm and a["role"] in ("网格长", "网格员")]
        for i in R.sample([i for i in ok if self.acc[i]["role"] == "网格长"], 4):
            self.acc[i]["closed"] = in_hours(lo, hi)
        for i in R.sample([i for i in ok if self.acc[i]["closed"] is None], 10):
            self.acc[i]["changes"].append((in_hours(lo, hi), phone()))
        # versions: (time, snapshot)
        for a in self.acc:
            state = {"person_name": a["name"], "phone": a["phone"], "unit_code": a["unit"], "role": a["role"],
                     "dept_name": a["dept"], "status": "启用", "opened_at": _fmt(a["opened"]), "closed_at": None}
            vs = []
            upto = a["closed"] if a["closed"] is not None and a["closed"] < self.start else pre_hi
            t0 = a["opened"] if a["opened"] >= self.start or R.random() < 0.6 else in_hours(a["opened"], upto)
            vs.append((t0, dict(state)))
            for t, ph in a["changes"]:
                state["phone"] = ph
                vs.append((t, dict(state)))
            if a["closed"] is not None:
                state.update(status="停用", closed_at=_fmt(a["closed"]))
                vs.append((a["closed"], dict(state)))
            vs.sort(key=lambda v: v[0])
            for t, s in vs:
                s["account_id"] = a["id"]
                s["updated_at"] = _fmt(t)
            a["versions"] = vs
            a["open_day"] = a["opened"] // DAY + 1
            a["close_day"] = a["closed"] // DAY if a["closed"] is not None else 10 ** 9
        # who works each grid, by time
        self.workers: dict[int, list[int]] = {}
        for i, a in enumerate(self.acc):
            if a["role"] == "网格员":
                self.workers.setdefault(a["grid"], []).append(i)

    def worker_at(self, g: int, t: float) -> int | None:
        for i in self.workers.get(g, ()):
            a = self.acc[i]
            if a["opened"] <= t and (a["closed"] is None or t < a["closed"]) and t >= a["open_day"] * DAY:
                return i
        return None

    def open_at(self, i: int | None, t: float) -> bool:
        if i is None:
            return False
        a = self.acc[i]
        return a["opened"] <= t and (a["closed"] is None or t < a["closed"])

    def comm_actor(self, ccode: str, t: float) -> int:
        for i in (self.comm_admin.get(ccode), self.leader.get(ccode)):
            if self.open_at(i, t):
                return i
        return self.town_admin[int(ccode[6:9]) - 1]

    def county_actor(self, t: float, R: random.Random) -> int:
        c = [i for i in self.county_admins if self.open_at(i, t)]
        return R.choice(c)

    # ------------------------------------------------------------------------------------------- events -------
    def build_events(self):
        R, rng = self.R("events"), self.rng("events")
        close_q = np.clip(rng.normal(0.88, 0.05, 32), 0.7, 0.98)
        p_never = np.full(32, 0.012)
        for town, p in BACKLOG.items():
            close_q[TOWNSHIPS.index(town)] = 0.5
            p_never[TOWNSHIPS.index(town)] = p
        campaign = {TOWNSHIPS.index(t): self.M - n for t, n in CAMPAIGN.items() if self.M - n >= 1}
        # now and then a 乡镇 stalls for a month: what it would have closed then is closed the month after
        calm = [TOWNSHIPS.index(t) for t in (*PERFECT, *BACKLOG, *ZERO_MONTHS)]
        self.stall = {(t, k) for t in range(32) for k in range(self.M - 1)
                      if t not in calm and rng.random() < 0.06}
        rate = 1.9 * (0.6 + 0.6 * self.activity_mean) * rng.uniform(0.8, 1.2, 32)
        cats = list(EVENT_CATEGORIES)
        grids_of = [[g for g in self.grids if self.units[g]["town"] == t] for t in range(32)]
        hh_of = [[self.units[g]["hh"] for g in gl] for gl in grids_of]
        events = []
        for k, (yy, mm) in enumerate(self.ym):
            w = dict(CATEGORY_WEIGHT)
            if mm in (6, 7, 8):
                w["安全隐患"] *= 1.7
            if mm in (12, 1, 2):
                w["安全隐患"] *= 1.3
                w["矛盾纠纷"] *= 1.4
            if 5 <= mm <= 9:
                w["环境卫生"] *= 1.3
            season = 1.0 + 0.08 * math.cos((mm - 7) / 6 * math.pi)  # more in summer
            days = np.nonzero(self.day_month == k)[0]
            dw = (np.where(self.weekend[days], 0.45, 1.0) * np.maximum(self.holiday[days], 0.35)).tolist()
            for t in range(32):
                zero = k >= self.zero_from[t]
                n = int(rng.poisson(self.town_grids[t] * rate[t] * season * (0.25 if zero else 1.0)))
                for _ in range(n):
                    d = int(self.days[days[R.choices(range(len(days)), dw)[0]]])
                    t0 = d * DAY + int(R.triangular(8 * HOUR, 20 * HOUR, 10 * HOUR))
                    g = R.choices(grids_of[t], hh_of[t])[0]
                    cat = R.choices(cats, [w[c] for c in cats])[0]
                    src = R.choices(EVENT_SOURCES, [SOURCE_WEIGHT[s] for s in EVENT_SOURCES])[0]
                    rep = None if src in TOP_DOWN else self.worker_at(g, t0)
                    if zero or (src not in TOP_DOWN and rep is None):
                        src = R.choices(TOP_DOWN, (15, 25, 60))[0]
                        rep = None
                    events.append(self._event(R, t0, g, t, cat, src, rep, close_q[t], p_never[t],
                                              campaign.get(t)))
        events.sort(key=lambda e: (e["t0"], e["grid"]))
        per_day: dict[str, int] = {}
        for e in events:
            day = _fmt(e["t0"])[:10].replace("-", "")
            per_day[day] = per_day.get(day, 0) + 1
            e["id"] = f"SJ{day}{per_day[day]:04d}"
        self.events = events

    def _event(self, R, t0, g, town, cat, src, rep, close_q, p_never, campaign):
        u = self.units[g]
        gcode, ccode, tcode = u["code"], u["parent"], u["code"][:9]
        top = src in TOP_DOWN
        limit = LIMIT_HOURS[cat] * HOUR
        deadline = t0 + limit
        steps = []  # (time, action, from, to, account, note)
        if top:
            note = {"12345热线": "12345热线工单转办", "上级交办": "县综治中心交办", "部门移交": "县级部门移交"}[src]
            steps.append((t0, "上报", COUNTY_CODE, tcode, self.county_actor(t0, R), note))
        else:
            steps.append((t0, "上报", gcode, ccode, rep, "网格员巡查发现" if src == "网格员巡查" else "群众反映，网格员上报"))
        t = t0
        closed_invalid = False
        if not top and R.random() < 0.01:
            t = self.workhours(t + R.uniform(1, 24) * HOUR, R)
            steps.append((t, "退回", ccode, gcode, self.comm_actor(ccode, t), "重复上报，事件已关闭"))
            closed_invalid = True
        elif not top and R.random() < 0.04:
            t = self.workhours(t + R.uniform(1, 8) * HOUR, R)
            steps.append((t, "退回", ccode, gcode, self.comm_actor(ccode, t), "信息不全，请补充现场照片后重新上报"))
            t = self.workhours(t + R.uniform(1, 24) * HOUR, R)
            w = self.worker_at(g, t)
            if w is not None:
                steps.append((t, "上报", gcode, ccode, w, "已补充材料，重新上报"))
        sat = None
        if not closed_invalid:
            level = R.choices(HANDLING_LEVELS, LEVEL_WEIGHT)[0]
            if top and level in ("网格", "社区"):
                level = "乡镇"
            never = R.random() < p_never
            unaccepted = never and R.random() < 0.4
            if campaign is not None and t0 < self.mstart[campaign]:
                cs = float(self.mstart[campaign])
                campaign_t = cs + R.uniform(0, 0.9) * (float(self.mstart[campaign + 1]) - cs)
            else:
                campaign_t = None
            if unaccepted and campaign_t is not None:
                unaccepted = False
            chain = []
            if top:
                chain = [("受理", tcode, tcode, "T")]
                if level == "县":
                    chain += [("上报上级", tcode, COUNTY_CODE, "T"), ("交办", COUNTY_CODE, tcode, "C")]
                chain += [("交办", tcode, ccode, "T")]
            elif level == "社区":
                chain = [("受理", ccode, ccode, "M")]
            elif level == "乡镇":
                chain = [("受理", ccode, ccode, "M"), ("上报上级", ccode, tcode, "M"), ("交办", tcode, ccode, "T")]
            elif level == "县":
                chain = [("受理", ccode, ccode, "M"), ("上报上级", ccode, tcode, "M"),
                         ("上报上级", tcode, COUNTY_CODE, "T"), ("交办", COUNTY_CODE, tcode, "C"),
                         ("交办", tcode, ccode, "T")]
            if not unaccepted:
                t = t + R.expovariate(1 / 4) * HOUR + 0.2 * HOUR
                for i, (act, fr, to, who) in enumerate(chain):
                    if i:
                        t += (R.expovariate(1 / 6) + 0.3) * HOUR
                    t = self.workhours(t, R)
                    steps.append((t, act, fr, to, self._actor(who, ccode, tcode, g, t, R), FLOW_NOTE[act]))
                last = t
                if never:
                    tc = INF
                elif R.random() < close_q and deadline > last + HOUR:
                    tc = last + R.uniform(0.35, 0.98) * (deadline - last)
                else:
                    tc = max(deadline, last) + (R.expovariate(1 / (6 + 14 * (1 - close_q))) + 0.05) * DAY
                if campaign_t is not None and tc > campaign_t:
                    tc = max(campaign_t, last + 2 * HOUR)
                if tc < INF:
                    tc = self.workhours(tc, R)
                    mc = self.month_of(tc)
                    if (town, mc) in self.stall:
                        tc = self.workhours(float(self.mstart[mc + 1]) + R.uniform(0.5, 12) * DAY, R)
                    tp = max(last + 600, tc - R.uniform(0.5, 24) * HOUR)
                    tp = max(min(tp, tc - 600), last + 60)
                    handler = ("G" if level == "网格" else "M")
                    unit = gcode if level == "网格" else ccode
                    steps.append((tp, "处置", unit, unit, self._actor(handler, ccode, tcode, g, tp, R), FLOW_NOTE["处置"]))
                    closer = {"网格": "G", "社区": "M"}.get(level, "T")
                    cunit = {"网格": gcode, "社区": ccode}.get(level, tcode)
                    steps.append((tc, "办结", cunit, gcode, self._actor(closer, ccode, tcode, g, tc, R), FLOW_NOTE["办结"]))
                    if R.random() < 0.9:
                        tv = self.workhours(tc + R.uniform(1, 48) * HOUR, R)
                        steps.append((tv, "验证", ccode, ccode, self.comm_actor(ccode, tv), FLOW_NOTE["验证"]))
                        if R.random() < 0.85:
                            sat = R.choices(SATISFACTION, (80, 15, 5))[0]
                            te = self.workhours(tv + R.uniform(1, 72) * HOUR, R)
                            steps.append((te, "评价", ccode, ccode, self.comm_actor(ccode, te), f"群众评价：{sat}"))
            else:
                tc = INF
            # 催办 (county) when overdue
            for j, when in enumerate((deadline + R.uniform(2, 20) * HOUR,
                                      deadline + max(limit, 5 * DAY) + R.uniform(2, 20) * HOUR)):
                when = self.workhours(when, R)
                if when < tc:
                    steps.append((when, "催办", COUNTY_CODE, tcode if level in ("乡镇", "县") or top else ccode,
                                  self.county_actor(when, R), "黄牌督办：" + FLOW_NOTE["催办"] if j == 0
                                  else "红牌督办：" + FLOW_NOTE["催办"]))
        steps.sort(key=lambda s: s[0])
        # a 乡镇 that stopped working: nothing after that but the county's 催办
        zf = self.zero_from_sec[town]
        kept, frozen = [], False
        for s in steps:
            if s[0] >= self.end:
                break
            if s[0] >= zf and s[1] != "催办" and not (s[1] == "上报" and s[2] == COUNTY_CODE):
                frozen = True
            if frozen and s[1] != "催办":
                continue
            kept.append(s)
        steps = []
        for s in kept:
            tt = float(int(s[0]))
            if steps and tt <= steps[-1][0]:
                tt = steps[-1][0] + R.randint(60, 600)
            steps.append((tt,) + s[1:])
        # state after each step
        glon, glat, sig = u["lon"], u["lat"], u["sigma"]
        ev = {"t0": t0, "grid": gcode, "town": town, "cat": cat, "src": src,
              "rep": self.acc[rep]["id"] if rep is not None else None, "deadline": deadline,
              "summary": self._summary(R, u, cat), "steps": steps}
        if top and R.random() < 0.5:
            ev["lon"] = ev["lat"] = None
        else:
            ev["lon"] = round(glon + R.gauss(0, sig), 6)
            ev["lat"] = round(glat + R.gauss(0, sig * 0.9), 6)
        ev["csys"] = "GCJ02" if R.random() < 0.3 and ev["lon"] is not None else None
        state = {"status": "待受理", "level": None, "closed_at": None, "sat": None, "sup": "普通"}
        rank = {lv: i for i, lv in enumerate(HANDLING_LEVELS)}
        versions = []
        for tt, act, fr, to, who, note in steps:
            if act == "上报":
                state["status"] = "待受理"
                lv = "乡镇" if fr == COUNTY_CODE else "网格"
            elif act in ("受理", "上报上级"):
                state["status"] = "办理中"
                lv = LEVEL_OF_LEN[len(to)]
            else:
                lv = None
                if act == "退回":
                    state["status"] = "已关闭" if closed_invalid else "已退回"
                elif act == "交办":
                    state["status"] = "办理中"
                elif act == "处置":
                    state["status"] = "待验证"
                elif act == "办结":
                    state["status"] = "已办结"
                    state["closed_at"] = tt
                elif act == "评价":
                    state["sat"] = sat
                elif act == "催办":
                    state["sup"] = "黄牌" if state["sup"] == "普通" else "红牌"
            if lv and (state["level"] is None or rank[lv] > rank[state["level"]]):
                state["level"] = lv
            versions.append((tt, dict(state)))
        ev["versions"] = versions
        return ev

    def _actor(self, who, ccode, tcode, g, t, R):
        if who == "G":
            w = self.worker_at(g, t)
            return w if w is not None else self.comm_actor(ccode, t)
        if who == "M":
            return self.comm_actor(ccode, t)
        if who == "T":
            return self.town_admin[int(tcode[6:9]) - 1]
        return self.county_actor(t, R)

    def _summary(self, R, u, cat) -> str:
        vill = self.units[self.by_code[u["parent"]]]["name"]
        place = vill + (f"{R.randint(1, 12)}组" if vill.endswith("村") else f"{R.randint(1, 30)}号楼")
        text = R.choice(SUMMARY[cat]).format(p=place, s=R.choice(SURNAMES), s2=R.choice(SURNAMES),
                                             x=R.choice(SUMMARY_FILL[cat]))
        r = R.random()
        if r < 0.03:
            text += f"联系电话{R.choice(PHONE_PREFIX)}{R.randrange(10 ** 8):08d}。"
        elif r < 0.05:
            text += f"（当事人身份证号：{id_number(R)}）"
        elif r < 0.06:
            text += '现场照片已上传,"请尽快处理"。'
        elif r < 0.065:
            text += "\n补充：群众再次来电催促。"
        return text

    # ------------------------------------------------------------------------------ key-person reports -------
    def build_reports(self):
        R, rng = self.R("reports"), self.rng("reports")
        grids_of = [[g for g in self.grids if self.units[g]["town"] == t] for t in range(32)]
        daxin = TOWNSHIPS.index("大新乡")
        reports = []
        for k in range(self.M):
            days = np.nonzero(self.day_month == k)[0]
            wd = [int(self.days[d]) for d in days if not self.weekend[d] and self.holiday[d] >= 1]
            wd = wd or [int(self.days[d]) for d in days]
            active = [t for t in range(32) if k < self.zero_from[t]]
            for cat in KP_CATEGORIES:
                if cat == "流动人口":
                    counts = {t: int(rng.poisson(self.town_grids[t] * 0.3 * self.activity_mean[t] ** 3))
                              for t in active}
                else:
                    n_towns = R.choices((1, 2, 3, 4, 5, 7), (14, 18, 18, 14, 10, 6))[0]
                    towns = R.sample(active, min(n_towns, len(active)))
                    counts = {t: 1 + int(rng.poisson(1.3)) for t in towns}
                    if cat == "吸毒人员" and k == self.M - 1:
                        counts = {daxin: 4}
                for t in sorted(counts):
                    for _ in range(counts[t]):
                        for _try in range(20):
                            t0 = R.choice(wd) * DAY + R.randint(8 * HOUR + 1800, 18 * HOUR)
                            g = R.choice(grids_of[t])
                            rep = self.worker_at(g, t0)
                            if rep is not None:
                                break
                        if rep is None:
                            continue
                        reports.append(self._report(R, k, t0, g, t, cat, rep))
        reports.sort(key=lambda r: (r["t0"], r["grid"]))
        per_day: dict[str, int] = {}
        for r in reports:
            day = _fmt(r["t0"])[:10].replace("-", "")
            per_day[day] = per_day.get(day, 0) + 1
            r["id"] = f"BS{day}{per_day[day]:04d}"
        self.reports = reports

    def _report(self, R, k, t0, g, town, cat, rep):
        u = self.units[g]
        local = cat != "流动人口" or R.random() < 0.15
        idn = id_number(R, ID_AREAS_LOCAL if local else ID_AREAS_OTHER, (1955, 2005))
        r = {"t0": t0, "grid": u["code"], "town": town, "cat": cat, "rep": self.acc[rep]["id"], "idn": idn,
             "name": _person(R), "offices": {}, "signs": []}
        short = _short(TOWNSHIPS[town])
        for kind in KP_OFFICES[cat]:
            dept = short + OFFICE_ROLES[kind]
            r["offices"][kind] = dept
            prof = OFFICE_PROFILE.get(dept, "never")
            ts = None
            if prof == "fast" and R.random() < 0.95:
                ts = t0 + R.uniform(0.3, 8) * HOUR
            elif prof == "slow" and R.random() < 0.85:
                ts = t0 + R.uniform(26, 140) * HOUR
            elif prof == "late" and R.random() < 0.8:
                ts = float(self.mstart[k + 1]) + R.uniform(0.5, 20) * DAY
            if ts is not None:
                ts = float(int(self.workhours(ts, R)))
                if ts < self.end:
                    r["signs"].append((ts, kind, self.office[dept]))
        r["signs"].sort()
        state = {"police_signed_at": None, "justice_signed_at": None, "health_signed_at": None}
        r["versions"] = [(t0, dict(state))]
        for ts, kind, _ in r["signs"]:
            state[KP_COLUMNS[kind][1]] = _fmt(ts)
            r["versions"].append((ts, dict(state)))
        return r

    # ------------------------------------------------------------------------------ deliveries (small) -------
    def _monthly(self, items, full_first=False):
        """items: (key, versions [(time, snapshot)]) → per month the last snapshot of each key changed in it."""
        per = [[] for _ in range(self.M)]
        seen: dict = {}
        for key, versions in items:
            last = {}
            for t, snap in versions:
                m = self.month_of(t)
                if m < 0 and full_first:
                    m = 0
                if 0 <= m < self.M:
                    last[m] = snap
            for m in sorted(last):
                per[m].append(last[m])
            seen[key] = len(last)
        once = {k for k, n in seen.items() if n == 1}
        return per, once

    def deliver_small(self):
        R = self.R("deliver")
        # org_units: the full tree at the start (xlsx), a small update later (csv)
        R0 = self.R("org")
        rows = []
        for u in self.units:
            t = self.start + R0.randint(0, 2) * DAY + R0.randint(8 * HOUR, 18 * HOUR)
            rows.append(self._unit_row(u, t, R0))
        upd_month = max(self.M // 2, 1) if self.M >= 2 else 0
        changed = R0.sample(self.grids, 15)
        upd = []
        for g in changed:
            u = dict(self.units[g])
            u["hh"] = max(20, u["hh"] + R0.randint(-30, 45))
            u["pop"] = int(u["hh"] * R0.uniform(2.5, 3.2))
            t = float(self.mstart[upd_month]) + R0.randint(3, 20) * DAY + R0.randint(9 * HOUR, 17 * HOUR)
            upd.append(self._unit_row(u, t, R0))
        once = {r["unit_code"] for r in rows} - {r["unit_code"] for r in upd}
        self.keys = {"org_units": {r["unit_code"] for r in rows}}
        self.write("org_units", 0, "xlsx", rows, once, R)
        self.write("org_units", upd_month, "csv-gbk" if upd_month % 2 else "csv-utf8-bom", upd, once, R,
                   suffix="_update")
        # accounts
        per, once = self._monthly(((a["id"], a["versions"]) for a in self.acc), full_first=True)
        self.keys["accounts"] = {a["id"] for a in self.acc}
        for m in range(self.M):
            self.write("accounts", m, self.fmt("accounts", m), per[m], once, R)
        # events and their flow
        def ev_items():
            for e in self.events:
                yield e["id"], [(t, self._event_row(e, t, s)) for t, s in e["versions"]]
        per, once = self._monthly(ev_items())
        self.keys["events"] = {e["id"] for e in self.events if e["versions"]}
        flows = [[] for _ in range(self.M)]
        Rf = self.R("flow")
        nflow = 0
        for e in self.events:
            for i, (t, act, fr, to, who, note) in enumerate(e["steps"]):
                upd_t = _fmt(t + Rf.randint(1, 90)) if Rf.random() < 0.03 else None
                flows[self.month_of(t)].append({
                    "event_id": e["id"], "seq": i + 1, "action": act, "from_unit": fr, "to_unit": to,
                    "account_id": self.acc[who]["id"] if who is not None else None, "action_time": _fmt(t),
                    "note": note, "updated_at": upd_t})
                nflow += 1
        self.keys["event_flow"] = nflow
        for m in range(self.M):
            self.write("events", m, self.fmt("events", m), per[m], once, R)
            self.write("event_flow", m, self.fmt("event_flow", m), flows[m], None, R)
        # key-person reports
        def kp_items():
            for r in self.reports:
                yield r["id"], [(t, self._report_row(r, t, s)) for t, s in r["versions"]]
        per, once = self._monthly(kp_items())
        self.keys["key_person_reports"] = {r["id"] for r in self.reports}
        for m in range(self.M):
            self.write("key_person_reports", m, self.fmt("key_person_reports", m), per[m], once, R)

    def fmt(self, ds: str, m: int) -> str:
        cyc = FORMAT_CYCLE[ds]
        return cyc[m % len(cyc)]

    def _unit_row(self, u, t, R):
        return {"unit_code": u["code"], "unit_name": u["name"], "level": u["level"], "parent_code": u["parent"],
                "unit_kind": u["kind"], "households": u["hh"], "population": u["pop"], "center_lon": u["lon"],
                "center_lat": u["lat"], "boundary": demo_geo.geojson_gcj02(u["geom"]),
                "coord_sys": "GCJ02" if R.random() < 0.5 else None, "updated_at": _fmt(t)}

    def _event_row(self, e, t, s):
        return {"event_id": e["id"], "reported_at": _fmt(e["t0"]), "reporter_account": e["rep"],
                "grid_code": e["grid"], "category": e["cat"], "source": e["src"], "summary": e["summary"],
                "lon": e["lon"], "lat": e["lat"], "coord_sys": e["csys"], "handling_level": s["level"],
                "status": s["status"], "deadline": _fmt(e["deadline"]),
                "closed_at": _fmt(s["closed_at"]) if s["closed_at"] is not None else None,
                "satisfaction": s["sat"], "supervision": s["sup"], "updated_at": _fmt(t)}

    def _report_row(self, r, t, s):
        row = {"report_id": r["id"], "category": r["cat"], "id_number": r["idn"], "person_name": r["name"],
               "grid_code": r["grid"], "reporter_account": r["rep"], "reported_at": _fmt(r["t0"]),
               "police_station": None, "police_signed_at": None, "justice_office": None, "justice_signed_at": None,
               "health_center": None, "health_signed_at": None, "updated_at": _fmt(t)}
        for kind, dept in r["offices"].items():
            row[KP_COLUMNS[kind][0]] = dept
        row.update(s)
        return row

    # ---------------------------------------------------------------------------- collection_stats ----------
    def deliver_collection(self):
        rng, R = self.rng("collection"), self.R("collection-out")
        G, D = len(self.grids), len(self.days)
        town = self.grid_town
        hh = np.array([self.units[g]["hh"] for g in self.grids], dtype=float)
        behind = rng.random(G) < 0.1
        s0 = np.where(behind, rng.uniform(0.12, 0.4, G), rng.uniform(0.55, 0.92, G))
        gain = rng.uniform(0.03, 0.35, G) * self.activity_mean[town] ** 2 * (self.M / 14) ** 0.5
        final = np.minimum(s0 + np.where(behind, gain * 0.3, gain), 1.0)
        work = (~self.weekend[None, :]) * np.minimum(self.holiday, 1)[None, :] * np.ones((G, 1))
        work = work * rng.exponential(1.0, (G, D))
        zero_day = np.array([self.zero_from[t] for t in range(32)])[town]
        work[self.day_month[None, :] >= zero_day[:, None]] = 0
        # no collection while the grid has no worker
        for j, g in enumerate(self.grids):
            ws = self.workers.get(g, [])
            alive = np.zeros(D, bool)
            for i in ws:
                a = self.acc[i]
                alive |= (self.days >= a["open_day"]) & (self.days < a["close_day"])
            work[j, ~alive] = 0
        cum = np.cumsum(work, axis=1)
        denom = np.where(cum[:, -1] > 0, cum[:, -1], 1.0)
        frac = s0[:, None] + (final - s0)[:, None] * cum / denom[:, None]
        collected = np.floor(hh[:, None] * frac).astype(np.int64)
        r_p, r_f = rng.uniform(2.4, 3.1, G), rng.uniform(0.03, 0.15, G)
        r_h, r_r, kmax = rng.uniform(1.0, 1.15, G), rng.uniform(0.02, 0.12, G), rng.integers(1, 26, G)
        persons = np.floor(collected * r_p[:, None]).astype(np.int64)
        floating = np.floor(persons * r_f[:, None]).astype(np.int64)
        houses = np.floor(collected * r_h[:, None]).astype(np.int64)
        rentals = np.floor(houses * r_r[:, None]).astype(np.int64)
        places = np.floor(kmax[:, None] * frac).astype(np.int64)
        codes = [self.units[g]["code"] for g in self.grids]
        self.keys["collection_stats"] = G * D
        for m in range(self.M):
            self.progress(0.40 + 0.08 * m / self.M, f"正在写出基础信息采集统计（{m + 1}/{self.M}）")
            batch = R.random() < 0.4  # this export fills updated_at with the nightly batch time
            sel = np.nonzero(self.day_month == m)[0]  # rows: day by day, grid by grid

            def column(values):
                return np.array(values[:, sel].T.ravel().tolist() + [None], dtype=object)[:-1]

            dates = [_fmt_date(int(self.days[d]) * DAY) for d in sel]
            upd = [_fmt(int(self.days[d] + 1) * DAY + 5400) if batch else None for d in sel]
            cols = {"grid_code": np.array(codes * len(sel), dtype=object),
                    "stat_date": np.repeat(np.array(dates, dtype=object), G),
                    "households_collected": column(collected), "persons": column(persons),
                    "floating": column(floating), "houses": column(houses), "rentals": column(rentals),
                    "key_places": column(places), "updated_at": np.repeat(np.array(upd, dtype=object), G)}
            self.write("collection_stats", m, self.fmt("collection_stats", m), cols, None, R)

    # ---------------------------------------------------------------------------- activity_log --------------
    def deliver_activity(self):
        A = len(self.acc)
        rng = self.rng("activity-params")
        role = [a["role"] for a in self.acc]
        town = np.array([a["town"] for a in self.acc])
        mean = np.where(town >= 0, self.activity_mean[np.maximum(town, 0)], 0.9)
        conc = 30.0
        d = rng.beta(mean * conc, (1 - np.minimum(mean, 0.999)) * conc + 1e-3)
        grid_roles = np.array([r in ("网格员", "网格长") for r in role])
        dept = np.array([r in ("派出所", "司法所", "卫生院") for r in role])
        d = np.where(np.array([r == "社区管理员" for r in role]), d * 0.85, d)
        d = np.where(np.array([r == "乡镇管理员" for r in role]), np.clip(0.6 + 0.4 * mean, 0, 0.97), d)
        d = np.where(np.array([r == "县级管理员" for r in role]), 0.93, d)
        perfect = np.array([a["town"] >= 0 and TOWNSHIPS[a["town"]] in PERFECT for a in self.acc]) & grid_roles
        near = np.array([a["town"] >= 0 and TOWNSHIPS[a["town"]] in NEAR_PERFECT for a in self.acc]) & grid_roles
        d = np.where(perfect, 1.0, d)
        d = np.where(near, rng.uniform(0.9, 1.0, A), d)
        operating = np.array([a["dept"] in OPERATING_OFFICES for a in self.acc])
        d = np.where(dept, np.where(operating, 0.97, 0.0), d)
        lam = np.where(grid_roles, rng.uniform(7.5, 13.5, A), np.where(dept, 1.2, rng.uniform(3, 7, A)))
        # grid workers and the offices that do work keep a duty rota at weekends and over holidays
        weekend_f = np.where(grid_roles, 0.3, np.where(operating, 0.4, 0.06))
        holiday_f = np.where(grid_roles, 0.75, np.where(operating, 0.6, 0.12))
        drift = np.clip(1 + np.cumsum(self.rng("drift").normal(0, 0.025, (32, self.M)), axis=1), 0.8, 1.06)
        drift[[TOWNSHIPS.index(t) for t in PERFECT]] = 1.0
        open_day = np.array([a["open_day"] for a in self.acc])
        close_day = np.array([a["close_day"] for a in self.acc])
        zero_from = np.array([self.zero_from[t] if t >= 0 else self.M for t in town])
        # location (GCJ02) and spread
        loc_unit = []
        for a in self.acc:
            if a["grid"] >= 0:
                loc_unit.append(a["grid"])
            else:
                loc_unit.append(self.by_code[a["unit"]])
        ulon = np.array([self.units[i]["lon"] for i in loc_unit])
        ulat = np.array([self.units[i]["lat"] for i in loc_unit])
        usig = np.array([min(self.units[i]["sigma"], 0.01) for i in loc_unit])
        # explicit operations: flow steps and key-person reports / sign-offs (account index, time, op)
        ex_a, ex_t, ex_op = [], [], []
        for e in self.events:
            for t, act, fr, to, who, note in e["steps"]:
                if who is not None:
                    ex_a.append(who)
                    ex_t.append(t)
                    ex_op.append("事件上报" if act == "上报" else "事件处置")
        id_index = {a["id"]: i for i, a in enumerate(self.acc)}
        Rx = self.R("explicit")
        for r in self.reports:
            ex_a.append(id_index[r["rep"]])
            ex_t.append(r["t0"])
            ex_op.append("信息采集")
            for ts, kind, who in r["signs"]:
                ex_a += [who, who]
                ex_t += [ts - Rx.randint(60, 900), ts]
                ex_op += ["登录", "签收"]
        ex_a, ex_t = np.array(ex_a, dtype=np.int64), np.array(ex_t, dtype=np.int64)
        op_index = {o: i for i, o in enumerate(OP_TYPES)}
        ex_op = np.array([op_index[o] for o in ex_op], dtype=np.int64)
        ex_m = np.searchsorted(self.mstart, ex_t, side="right") - 1

        op_weights = [np.array([w.get(o, 0.0) for o in OP_TYPES]) for w in OP_WEIGHT]
        HANDHELD, PC, APP = (TERMINALS.index(x) for x in ("手持终端", "PC", "APP"))
        ids = np.array([a["id"] for a in self.acc] + [f"WG9{i:04d}" for i in range(1, 6)], dtype=object)
        self.ghosts = 5
        total = 0
        for m in range(self.M):
            self.progress(0.48 + 0.5 * m / self.M, f"正在生成账号操作日志（{m + 1}/{self.M}）")
            rng = self.rng(f"activity-{m}")
            dsel = np.nonzero(self.day_month == m)[0]
            days = self.days[dsel]
            hol, wkd = self.holiday[dsel] < 1, self.weekend[dsel]
            P = d[:, None] * np.where(hol[None, :], holiday_f[:, None],
                                      np.where(wkd[None, :], weekend_f[:, None], 1.0))
            P = P * np.where(town >= 0, drift[np.maximum(town, 0), m], 1.0)[:, None]
            P = np.minimum(P, 1.0)
            work = rng.random(P.shape) < P
            work &= (days[None, :] >= open_day[:, None]) & (days[None, :] < close_day[:, None])
            work &= (m < zero_from)[:, None]
            # the perfect 乡镇: at least 22 working days for every grid worker
            for i in np.nonzero(perfect)[0]:
                alive = (days >= open_day[i]) & (days < close_day[i])
                short = 22 - int(work[i].sum())
                if short > 0:
                    free = np.nonzero(alive & ~work[i])[0]
                    work[i, rng.permutation(free)[:short]] = True
            ai, di = np.nonzero(work)
            n = 1 + rng.poisson(lam[ai])
            N = int(n.sum())
            grp = np.repeat(np.arange(len(ai)), n)
            first = np.zeros(N, bool)
            starts = np.concatenate([[0], np.cumsum(n)[:-1]])
            first[starts] = True
            login = 8 * HOUR + 40 * 60 + rng.normal(0, 35 * 60, len(ai))
            odd = (login < 7 * HOUR + 1200) | (login > 11 * HOUR)
            login[odd] = rng.uniform(7 * HOUR + 1200, 9 * HOUR, int(odd.sum()))
            gaps = np.where(first, 0.0, rng.exponential(32 * 60, N) + 60)
            cs = np.cumsum(gaps)
            off = cs - cs[starts][grp]
            t = days[di][grp] * DAY + login[grp] + off
            t = np.minimum(t, days[di][grp] * DAY + 22 * HOUR + rng.integers(0, 3000, N)).astype(np.int64)
            acc_i = ai[grp]
            op = np.zeros(N, dtype=np.int64)
            cat = np.where(grid_roles[acc_i], 0, np.where(dept[acc_i], 2, 1))
            u = rng.random(N)
            for c, probs in enumerate(op_weights):
                sel = (cat == c) & ~first
                op[sel] = np.searchsorted(np.cumsum(probs), u[sel] * probs.sum(), side="right")
            # explicit rows of this month
            xs = ex_m == m
            acc_i = np.concatenate([acc_i, ex_a[xs]])
            t = np.concatenate([t, ex_t[xs]])
            op = np.concatenate([op, ex_op[xs]])
            N = len(t)
            # terminal per row: grid workers mostly handheld, others PC
            ut = rng.random(N)
            term = np.where(grid_roles[acc_i], np.where(ut < 0.86, HANDHELD, np.where(ut < 0.95, APP, PC)),
                            np.where(ut < 0.9, PC, APP))
            term = np.where(dept[acc_i], PC, term)
            has_xy = term != PC
            lon = ulon[acc_i] + rng.normal(0, 1, N) * usig[acc_i]
            lat = ulat[acc_i] + rng.normal(0, 1, N) * usig[acc_i] * 0.9
            csys = np.where(has_xy & (rng.random(N) < 0.3), 1, 0)
            order = np.lexsort((acc_i, t))
            acc_i, t, op, term, lon, lat, csys, has_xy = (x[order] for x in (acc_i, t, op, term, lon, lat, csys,
                                                                              has_xy))
            yy, mm = self.ym[m]
            log_id = pc.binary_join_element_wise(
                f"LG{yy:04d}{mm:02d}", pc.utf8_lpad(pc.cast(pa.array(np.arange(1, N + 1)), pa.string()), 8, "0"), "")
            def text(arr):  # an Arrow string array → an object column
                return arr.to_numpy(zero_copy_only=False)

            rows = {  # coded columns share their str objects; the rest are formatted by Arrow
                "log_id": text(log_id),
                "account_id": ids[acc_i],
                "op_time": text(pc.cast(pa.array(t.astype("datetime64[s]")), pa.string())),  # YYYY-MM-DD HH:MM:SS
                "op_type": np.array(OP_TYPES, dtype=object)[op],
                "terminal": np.array(TERMINALS, dtype=object)[term],
                "lon": text(pc.cast(pa.array(np.round(lon, 6), mask=~has_xy), pa.string())),
                "lat": text(pc.cast(pa.array(np.round(lat, 6), mask=~has_xy), pa.string())),
                "coord_sys": np.array([None, "GCJ02"], dtype=object)[csys],
                "updated_at": np.full(N, None, dtype=object),
            }
            total += N
            protect = perfect[acc_i]
            fmt = self.fmt("activity_log", m)
            parts = 2 if m == min(1, self.M - 1) else 1
            self.write("activity_log", m, fmt, rows, None, self.R(f"activity-out-{m}"), parts=parts,
                       protect=protect)
        self.keys["activity_log"] = total

    # ---------------------------------------------------------------------------- mess + writing ------------
    def write(self, ds, m, fmt, rows, once, R, suffix="", parts=1, protect=None):
        """Inject the mess into one delivery (rows: list of dicts, or dict of columns) and write it."""
        spec = DATASETS[ds]
        names = spec.names
        if isinstance(rows, dict):
            cols = {c: np.asarray(rows[c], dtype=object) for c in names}
        else:
            if not rows:
                return
            cols = {c: np.array([r[c] for r in rows] + [None], dtype=object)[:-1] for c in names}
        n = len(cols[names[0]])
        if n == 0:
            return
        tab = _Table(self, ds, cols, fmt, R, m)
        eligible = np.ones(n, bool)
        if once is not None:
            key = cols[spec.key[0]]
            eligible &= np.fromiter((k in once for k in key), bool, n)
        if protect is not None:
            tab.protect = protect
        tab.inject(eligible)
        final = tab.final()
        for kind, c in tab.counts.items():
            self.mess[ds][kind] = self.mess[ds].get(kind, 0) + c
        for kind in ("missing_required", "bad_required_ts"):
            self.quarantine[ds][kind] += tab.counts.get(kind, 0)
        N = len(final[names[0]])
        bounds = [0, N] if parts == 1 else [0, N // 2, N]
        for p in range(parts):
            sl = slice(bounds[p], bounds[p + 1])
            sfx = suffix + (f"_part{p + 1}" if parts > 1 else "")
            name = f"{ds}_{self.export[m]}{sfx}.{FORMAT_EXT[fmt]}"
            chunk = {c: v[sl] for c, v in final.items()}
            if self.county_index:
                chunk = _rekey(chunk, self.county_index)
            _write_file(self.out / name, ds, fmt, chunk, R, self.export[m], self.ym[m])
            self.truth_files[name] = {"dataset": ds, "format": fmt, "rows": bounds[p + 1] - bounds[p]}
        self.rows_delivered[ds] += N

    def truth(self) -> dict:
        keys = {ds: (len(v) if isinstance(v, set) else int(v)) for ds, v in self.keys.items()}
        levels = [u["level"] for u in self.units]
        mess = {ds: {k: int(v) for k, v in sorted(kinds.items())} for ds, kinds in self.mess.items()}
        return {
            "seed": self.seed,
            "months": [f"{y:04d}-{m:02d}" for y, m in self.ym],
            "end_month": f"{self.ym[-1][0]:04d}-{self.ym[-1][1]:02d}",
            "files": dict(sorted(self.truth_files.items())),
            "rows_delivered": self.rows_delivered,
            "distinct_keys": keys,
            "quarantine": self.quarantine,
            "mess": mess,
            "units": {"townships": levels.count("乡镇"), "communities": levels.count("社区"),
                      "villages": levels.count("村"), "grids": levels.count("网格")},
            "accounts": len(self.acc),
        }


# ---------------------------------------------------------------------------------------------------------------
class _Table:
    """One delivery's rows as object columns, with the mess injected at known counts."""

    def __init__(self, gen: _Gen, ds: str, cols: dict, fmt: str, R: random.Random, m: int):
        self.g, self.ds, self.cols, self.fmt, self.R, self.m = gen, ds, cols, fmt, R, m
        self.spec = DATASETS[ds]
        self.n = len(cols[self.spec.names[0]])
        self.used = np.zeros(self.n, bool)
        self.protect = np.zeros(self.n, bool)
        self.extra: list[tuple[float, dict]] = []  # (position, row)
        self.counts: dict[str, int] = {}

    def _k(self, kind: str) -> int:
        """How many rows of this file get `kind`: the rate, stochastically rounded; at least one from 100 rows."""
        x = self.n * RATE[kind]
        k = int(x) + (1 if self.R.random() < x - int(x) else 0)
        return max(k, 1) if self.n >= 100 else k

    def _pick(self, kind, cond=None, k=None, allow_protected=True) -> np.ndarray:
        self.counts.setdefault(kind, 0)
        ok = self.elig & ~self.used
        if not allow_protected:
            ok &= ~self.protect
        if cond is not None:
            ok &= cond
        idx = np.nonzero(ok)[0]
        k = self._k(kind) if k is None else k
        k = min(k, len(idx))
        if k <= 0:
            return idx[:0]
        sel = np.sort(np.array(self.R.sample(idx.tolist(), k)))
        self.used[sel] = True
        self.counts[kind] = self.counts.get(kind, 0) + len(sel)
        return sel

    def _notnull(self, col):
        v = self.cols[col]
        return np.not_equal(v, None) & np.not_equal(v, "")

    def _ts_variant(self, s: str, how: str, R) -> object:
        t = _parse(s)
        tm = time.gmtime(t)
        y, mo, d, hh, mi, ss = tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
        if how == "date":
            opts = [f"{y}/{mo}/{d}", f"{y}年{mo}月{d}日", f"{y:04d}-{mo:02d}-{d:02d} 00:00:00"]
            serial = Serial((t - EXCEL_EPOCH) // DAY)
        else:
            opts = [f"{y}/{mo}/{d} {hh:02d}:{mi:02d}", f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mi:02d}:{ss:02d}",
                    f"{y}年{mo}月{d}日 {hh:02d}:{mi:02d}"] + ([f"{y:04d}-{mo:02d}-{d:02d}"] if how == "any" else [])
            serial = Serial(round((t - EXCEL_EPOCH) / DAY, 5))
        if self.fmt == "xlsx":
            opts.append(serial)  # a bare number cell
        elif self.fmt.startswith("csv"):
            opts.append(_csv_text(serial))  # the number as text
        return R.choice(opts)

    def inject(self, eligible: np.ndarray):
        ds, c, R = self.ds, self.cols, self.R
        # odd timestamp formats never change which version of a record wins: any row may get one
        self.elig = np.ones(self.n, bool)
        # ts_formats: at least one per file
        cand = [(col, how, self._notnull(col)) for col, how in TS_COLS[ds].items()]
        anyts = np.zeros(self.n, bool)
        for _, _, nn in cand:
            anyts |= nn
        k = max(self._k("ts_formats"), 1 if self.n >= 5 else 0)
        for i in self._pick("ts_formats", anyts, k):
            opts = [(col, how) for col, how, nn in cand if nn[i]]
            col, how = R.choice(opts)
            c[col][i] = self._ts_variant(c[col][i], how, R)
        self.elig = eligible  # the other kinds: only records delivered once, so no later version hides them
        if ds in CODE_COLS:
            has = np.zeros(self.n, bool)
            for x in CODE_COLS[ds]:
                has |= self._notnull(x)
            for i in self._pick("code_spaces", has):
                col = R.choice([x for x in CODE_COLS[ds] if c[x][i]])
                c[col][i] = R.choice((" {} ", "{} ", " {}", "  {}")).format(c[col][i])
        if ds in UNKNOWN_CODE:
            col, val = UNKNOWN_CODE[ds]
            cond = self._notnull(col)
            if ds == "org_units":
                cond &= np.array([v == "网格" for v in c["level"]])
            for i in self._pick("unknown_code", cond):
                c[col][i] = val
        if ds == "key_person_reports":
            inv = {v: k for k, v in KP_ALIASES.items()}
            for i in self._pick("category_alias", np.array([v in inv for v in c["category"]])):
                c["category"][i] = inv[c["category"][i]]
            idn = c["id_number"]
            for i in self._pick("id_lowercase_x", np.array([v.endswith("X") for v in idn])):
                idn[i] = idn[i][:-1] + "x"
            for i in self._pick("id_15_digit", np.array([v[6:8] == "19" and v[-1] != "x" for v in idn])):
                idn[i] = idn[i][:6] + idn[i][8:17]
            if self.fmt == "xlsx":
                for i in self._pick("id_excel_number", np.array([len(v) == 18 and v.isdigit() for v in idn])):
                    idn[i] = NumId(int(idn[i]))
        if ds in COORD_COLS:
            lo, la = COORD_COLS[ds]
            has = self._notnull(lo)
            for i in self._pick("coord_swapped", has):
                c[lo][i], c[la][i] = c[la][i], c[lo][i]
            for i in self._pick("coord_zero", has):
                c[lo][i], c[la][i] = self._same(c[lo][i], 0.0), self._same(c[la][i], 0.0)
            for i in self._pick("coord_bd09", has):
                x, y = gcj02_to_bd09(float(c[lo][i]), float(c[la][i]))
                c[lo][i], c[la][i] = self._same(c[lo][i], float(x)), self._same(c[la][i], float(y))
                c["coord_sys"][i] = "BD09"
                if ds == "org_units":
                    c["boundary"][i] = _geojson_to_bd09(c["boundary"][i])
        if ds in ("events", "key_person_reports"):
            for i in self._pick("unknown_grid_ref"):
                c["grid_code"][i] = c["grid_code"][i][:12] + f"9{R.randint(0, 99):02d}"
        if ds == "activity_log":
            for i in self._pick("unknown_account_ref", allow_protected=False):
                c["account_id"][i] = f"WG9{R.randint(1, self.g.ghosts):04d}"
        if ds == "events":
            closed = self._notnull("closed_at") & np.array([v == "已办结" for v in c["status"]])
            for i in self._pick("closed_before_reported", closed):
                c["closed_at"][i] = _fmt(_parse(c["reported_at"][i]) - R.randint(HOUR, 3 * DAY))
        fcol = FUTURE_COL[ds]
        cond = self._notnull(fcol)  # rows with an odd timestamp format are used already
        # keep the kinds independent: no future time that also puts it after a closing or a sign-off
        for later in {"events": ("closed_at",), "accounts": ("closed_at",),
                      "key_person_reports": ("police_signed_at", "justice_signed_at", "health_signed_at")}.get(ds, ()):
            cond &= ~self._notnull(later)
        for i in self._pick("future_time", cond, allow_protected=False):
            s = c[fcol][i]
            fy, fm = self.g.future_ym
            c[fcol][i] = f"{fy:04d}-{fm:02d}-{min(int(s[8:10]), 28):02d}{s[10:]}"
        # extra rows: duplicates (later updated_at, later in the file) and rows to be quarantined
        for i in self._pick("dup_key_in_file"):
            row = {k: v[i] for k, v in c.items()}
            base = row["updated_at"]
            if base is None or not isinstance(base, str) or len(base) < 19:
                fb = UPDATED_FALLBACK.get(ds)
                if ds == "collection_stats":
                    base = _fmt(_parse(row["stat_date"]) + DAY - 1)
                elif fb and isinstance(row[fb], str) and len(row[fb]) == 19:
                    base = row[fb]
                else:
                    continue
            row["updated_at"] = _fmt(_parse(base) + R.randint(60, 4 * HOUR))
            if ds == "collection_stats":
                row["households_collected"] = row["households_collected"] + 1
            self.extra.append((R.uniform(i + 0.5, self.n), row))
        for kind in ("missing_required", "bad_required_ts"):
            for i in self._pick(kind, allow_protected=True):
                self.used[i] = False  # the source row itself is untouched
                row = {k: v[i] for k, v in c.items()}
                self._fresh_key(row, R)
                if kind == "missing_required":
                    row[R.choice(MISSING[ds])] = None
                else:
                    col = BAD_TS_COL[ds]
                    row[col] = R.choice(BAD_TS).format(y=self.g.ym[self.m][0])
                self.extra.append((R.uniform(0, self.n), row))

    @staticmethod
    def _same(orig, x: float):
        return f"{x:.6f}".rstrip("0").rstrip(".") if isinstance(orig, str) else round(x, 6)

    def _fresh_key(self, row, R):
        self.g.fresh += 1
        j = self.g.fresh
        ds = self.ds
        if ds == "org_units":
            row["unit_code"] = row["unit_code"][:12].ljust(12, "0") + f"8{j % 100:02d}"
            row["unit_name"] = row["unit_name"] and row["unit_name"] + "（新）"
        elif ds == "accounts":
            row["account_id"] = f"WG8{j:04d}"
        elif ds == "activity_log":
            row["log_id"] = row["log_id"][:8] + f"9{j:07d}"
        elif ds == "events":
            row["event_id"] = row["event_id"][:10] + f"9{j:04d}"
        elif ds == "event_flow":
            row["seq"] = 100 + j
        elif ds == "key_person_reports":
            row["report_id"] = row["report_id"][:10] + f"9{j:04d}"

    def final(self) -> dict:
        if not self.extra:
            return self.cols
        pos = np.concatenate([np.arange(self.n, dtype=float), [p for p, _ in self.extra]])
        order = np.argsort(pos, kind="stable")
        out = {}
        for k, v in self.cols.items():
            ext = np.array([r[k] for _, r in self.extra] + [None], dtype=object)[:-1]
            out[k] = np.concatenate([v, ext])[order]
        return out


def _geojson_to_bd09(text: str) -> str:
    obj = json.loads(text)

    def conv(ring):
        a = np.array(ring)
        x, y = gcj02_to_bd09(a[:, 0], a[:, 1])
        return [[round(float(p), 6), round(float(q), 6)] for p, q in zip(x, y)]

    if obj["type"] == "Polygon":
        obj["coordinates"] = [conv(r) for r in obj["coordinates"]]
    else:
        obj["coordinates"] = [[conv(r) for r in poly] for poly in obj["coordinates"]]
    return json.dumps(obj, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------------------
# writers
_STD_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_STD_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _headers(ds: str, R: random.Random, decorate: bool) -> list[str]:
    out = []
    for col in DATASETS[ds].columns:
        h = col.header
        if decorate:
            r = R.random()
            if col.required and r < 0.35:
                h += R.choice(("*", "（必填）", "(必填)"))
            elif r < 0.5:
                h = R.choice((" {} ", "{} ", " {}")).format(h)
        out.append(h)
    return out


def _csv_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, Serial):
        return f"{float(v):.5f}".rstrip("0").rstrip(".")
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".")
    return str(v)


def _write_file(path: Path, ds: str, fmt: str, cols: dict, R: random.Random, export: str, ym):
    names = DATASETS[ds].names
    n = len(cols[names[0]])
    if fmt in ("json", "jsonl"):
        rows = (dict(zip(names, vals)) for vals in zip(*(cols[k].tolist() for k in names)))
        if fmt == "jsonl":
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        else:
            text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n"
        path.write_bytes(text.encode("utf-8"))
        return
    if fmt == "xlsx":
        _write_xlsx(path, ds, cols, R, export, ym)
        return
    enc = "gbk" if fmt == "csv-gbk" else "utf-8"
    head = io.StringIO()
    eol = "\r\n" if fmt == "csv-gbk" and ds != "activity_log" else "\n"
    csv.writer(head, lineterminator=eol).writerow(
        _headers(ds, R, R.random() < 0.5))
    with open(path, "wb") as f:
        if fmt == "csv-utf8-bom":
            f.write(b"\xef\xbb\xbf")
        f.write(head.getvalue().encode(enc))
        if ds == "activity_log":  # large: pyarrow, in chunks, transcoded when GBK
            arrays = {}
            for k in names:
                try:
                    arrays[k] = pa.array(cols[k], pa.string())
                except (pa.ArrowInvalid, pa.ArrowTypeError):  # a Serial or number among the strings
                    arrays[k] = pa.array([None if v is None else _csv_text(v) for v in cols[k]], pa.string())
            table = pa.table(arrays)
            opts = pacsv.WriteOptions(include_header=False, quoting_style="none",
                                      batch_size=50_000)
            step = 200_000
            for s in range(0, n, step):
                buf = pa.BufferOutputStream()
                pacsv.write_csv(table.slice(s, step), buf, opts)
                data = buf.getvalue().to_pybytes()
                f.write(data if enc == "utf-8" else data.decode("utf-8").encode(enc))
            return
        # None → empty, numbers as Python prints them (coordinates are rounded to 6 decimals already)
        body = io.StringIO()
        csv.writer(body, lineterminator=eol).writerows(zip(*(cols[k].tolist() for k in names)))
        f.write(body.getvalue().encode(enc))


def _excel_datetime(v: str, typ: str) -> dt.datetime | None:
    """A standard timestamp (or date) as a datetime for a real Excel date cell; None for anything else."""
    try:
        if typ == "ts" and _STD_TS.match(v):
            return dt.datetime(int(v[:4]), int(v[5:7]), int(v[8:10]), int(v[11:13]), int(v[14:16]), int(v[17:19]))
        if typ == "date" and _STD_DATE.match(v):
            return dt.datetime(int(v[:4]), int(v[5:7]), int(v[8:10]))
    except ValueError:  # e.g. 0000-00-00 00:00:00
        return None
    return None


def _write_xlsx(path: Path, ds: str, cols: dict, R: random.Random, export: str, ym):
    spec = DATASETS[ds]
    names = spec.names
    n = len(cols[names[0]])
    created = dt.datetime(int(export[:4]), int(export[4:6]), int(export[6:8]), 8, 0, 0)
    wb = xlsxwriter.Workbook(str(path), {"in_memory": True, "strings_to_numbers": False,
                                         "strings_to_formulas": False, "strings_to_urls": False})
    wb.set_properties({"created": created, "author": SYSTEM, "title": BANNER_TITLES[ds]})
    ws = wb.add_worksheet(BANNER_TITLES[ds][:31])
    f_ts = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    f_date = wb.add_format({"num_format": "yyyy-mm-dd"})
    bold = wb.add_format({"bold": True})
    nb = R.choice((0, 1, 2, 3, 2))
    banners = [f"{SYSTEM} {BANNER_TITLES[ds]}", f"导出时间：{export[:4]}-{export[4:6]}-{export[6:]} 08:00",
               f"数据范围：{ym[0]:04d}-{ym[1]:02d}-01 至 {_fmt_date(_sec(int(export[:4]), int(export[4:6]), 1) - DAY)}"]
    for r in range(nb):
        ws.write_string(r, 0, banners[r], bold if r == 0 else None)
    ws.write_row(nb, 0, _headers(ds, R, R.random() < 0.6), bold)
    # per column: timestamps as real Excel dates or as text
    as_date = {c.name: R.random() < 0.7 for c in spec.columns if c.type in ("ts", "date")}
    if len(as_date) >= 2 and len(set(as_date.values())) == 1:  # both kinds of cell in every file
        flip = R.choice(sorted(as_date))
        as_date[flip] = not as_date[flip]
    types = {c.name: c.type for c in spec.columns}
    for j, k in enumerate(names):
        typ, dcell = types[k], as_date.get(k, False)
        f_when = f_ts if typ == "ts" else f_date
        for r, v in enumerate(cols[k].tolist(), start=nb + 1):
            cls = v.__class__
            if v is None:
                continue
            if cls is str:
                when = _excel_datetime(v, typ) if dcell else None
                if when is None:
                    ws.write_string(r, j, v)
                else:
                    ws.write_datetime(r, j, when, f_when)
            elif cls in (int, float, Serial, NumId):
                ws.write_number(r, j, float(v))
            else:
                ws.write_string(r, j, str(v))
    if R.random() < 0.7:
        ws.write_string(nb + 1 + n, 0, "合计")
        ws.write_number(nb + 1 + n, 1, n)
    wb.close()


# ---------------------------------------------------------------------------------------------------------------
def county_code(county_index: int) -> str:
    """The 区划代码 of demo county number `county_index` of a prefecture: 0 is 510799 (示例县), 1 is 510798, …"""
    return COUNTY_CODE if not county_index else f"5107{99 - int(county_index):02d}"


# columns rewritten for another county of a prefecture (county_index > 0): unit codes get its 区划代码, record and
# account ids a prefix "C<n>" (after any leading blank the mess put there, so that trimming still repairs it)
_REKEY_CODES = ("unit_code", "parent_code", "grid_code", "from_unit", "to_unit")
_REKEY_IDS = ("account_id", "reporter_account", "event_id", "report_id", "log_id")


def _rekey(cols: dict, county_index: int) -> dict:
    code, tag = county_code(county_index), f"C{county_index}"

    def fix_code(v):
        if isinstance(v, str):
            i = len(v) - len(v.lstrip())
            if v.startswith(COUNTY_CODE, i):
                return v[:i] + code + v[i + len(COUNTY_CODE):]
        return v

    def fix_id(v):
        if isinstance(v, str) and v.strip():
            i = len(v) - len(v.lstrip())
            return v[:i] + tag + v[i:]
        return v

    out = dict(cols)
    for c, fn in [(c, fix_code) for c in _REKEY_CODES] + [(c, fix_id) for c in _REKEY_IDS]:
        if c in out:
            out[c] = np.array([fn(v) for v in out[c].tolist()] + [None], dtype=object)[:-1]
    return out


def generate(out: Path, months: int = 14, seed: int = 20240401, end_month: str | None = None,
             progress: Callable[[float, str], None] | None = None, county_index: int = 0) -> dict:
    """Write the demo county's file drop into `out` and return (and write as out/_demo_truth.json) its truth.

    end_month "YYYY-MM" is the last month of data (default: the month before today). Deterministic for a given
    (seed, months, end_month). progress(fraction, 中文 message) is called now and then.

    county_index (default 0: 示例县, 510799) makes another county of a prefecture for the benchmark's city scale
    (warehouse/bench.py): the same county shape with its own 区划代码 (county_code(i)) and ids prefixed "C<i>", so
    that ten of them load side by side into one warehouse with distinct keys. The truth's counts are unchanged.
    """
    return _Gen(seed, months, end_month, progress, county_index).run(Path(out))
