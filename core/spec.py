"""The feed contract of docs/feeds.md as data.

One place says, for every dataset, its columns (English name, Chinese header, type, required), its key, the
column whose month partitions it, and the code lists. Readers, normaliser, demo generator and tests all use it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Column types: str, int, float, ts (local time, no zone), date, code.


@dataclass(frozen=True)
class Column:
    name: str
    header: str  # the Chinese header in xlsx/csv exports
    type: str = "str"
    required: bool = False
    codes: tuple[str, ...] = ()
    # personal data (masked or absent by role), by its kind: "name", "id", "phone" or "text" ("" = not personal);
    # warehouse.privacy masks by this kind, so the contract is the one list of personal columns
    personal: str = ""
    future_ok: bool = False  # a time that may lie ahead (a deadline); others later than the load are flagged


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str  # Chinese name, for the UI
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    month_col: str  # the time column whose month partitions landed Parquet
    # the 区划代码 column whose first 6 digits are a row's county (the county= partition of landed Parquet, as
    # warehouse/scoped.py tells a row's county); None: the rows carry no code (activity: an account; the event flow:
    # an event) and land under the county of that account or event (etl.lake.COUNTY_VIA, county_of)
    county_col: str | None = None
    # updated_at falls back to this column (or the end of this date) when empty
    updated_fallback: str | None = None
    code_aliases: dict[str, dict[str, str]] = field(default_factory=dict)

    def col(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


COORD_SYS = ("WGS84", "GCJ02", "BD09")
LEVELS = ("县", "乡镇", "社区", "村", "网格")
UNIT_KINDS = ("镇", "乡", "街道", "开发区", "城镇网格", "农村网格", "专属网格", "待开发网格")
ROLES = ("网格员", "网格长", "社区管理员", "乡镇管理员", "县级管理员", "派出所", "司法所", "卫生院", "其他部门")
# the department offices key-person reports go to, by their key in KP_OFFICES, in the county's order; the one
# source of the kinds (the warehouse writes them into cfg_office_kind, which its SQL joins)
OFFICE_KINDS = {"police": "派出所", "justice": "司法所", "health": "卫生院"}
DEPT_ROLES = tuple(OFFICE_KINDS.values())
ACCOUNT_STATUS = ("启用", "停用")
OP_TYPES = ("登录", "巡查", "信息采集", "信息更新", "事件上报", "事件处置", "签收", "民情日志", "其他")
TERMINALS = ("手持终端", "PC", "APP")
EVENT_CATEGORIES = ("矛盾纠纷", "治安隐患", "安全隐患", "环境卫生", "市容秩序", "民生服务", "政策咨询", "其他")
EVENT_SOURCES = ("网格员巡查", "群众反映", "部门移交", "上级交办", "12345热线", "其他")
HANDLING_LEVELS = ("网格", "社区", "乡镇", "县")
EVENT_STATUS = ("待受理", "办理中", "待验证", "已办结", "已退回", "已关闭")
SATISFACTION = ("满意", "基本满意", "不满意")
SUPERVISION = ("普通", "黄牌", "红牌")
FLOW_ACTIONS = ("上报", "受理", "交办", "上报上级", "处置", "办结", "验证", "退回", "评价", "催办")
KP_CATEGORIES = ("流动人口", "吸毒人员", "严重精神障碍患者", "社区矫正人员", "刑满释放人员")
KP_ALIASES = {"社区服刑人员": "社区矫正人员", "刑释人员": "刑满释放人员", "重症精神病患者": "严重精神障碍患者"}
# which office(s) each key-person category is sent to
KP_OFFICES = {
    "流动人口": ("police",),
    "吸毒人员": ("police",),
    "严重精神障碍患者": ("police", "health"),
    "社区矫正人员": ("justice",),
    "刑满释放人员": ("justice",),
}

C = Column

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            "org_units", "组织机构",
            (
                C("unit_code", "区划代码", "str", True),
                C("unit_name", "名称", "str", True),
                C("level", "层级", "code", True, LEVELS),
                C("parent_code", "上级代码"),
                C("unit_kind", "类型", "code", codes=UNIT_KINDS),
                C("households", "户数", "int"),
                C("population", "人口数", "int"),
                C("center_lon", "中心经度", "float"),
                C("center_lat", "中心纬度", "float"),
                C("boundary", "边界"),
                C("coord_sys", "坐标系", "code", codes=COORD_SYS),
                C("updated_at", "更新时间", "ts", True),
            ),
            key=("unit_code",), month_col="updated_at", county_col="unit_code",
        ),
        Dataset(
            "accounts", "系统账号",
            (
                C("account_id", "账号", "str", True),
                C("person_name", "姓名", personal="name"),
                C("phone", "手机号", personal="phone"),
                C("unit_code", "所属单位代码", "str", True),
                C("role", "账号类型", "code", True, ROLES),
                C("dept_name", "部门名称"),
                C("status", "状态", "code", True, ACCOUNT_STATUS),
                C("opened_at", "开通时间", "ts"),
                C("closed_at", "停用时间", "ts"),
                C("updated_at", "更新时间", "ts", True),
            ),
            key=("account_id",), month_col="updated_at", county_col="unit_code",
        ),
        Dataset(
            "activity_log", "账号操作日志",
            (
                C("log_id", "日志编号", "str", True),
                C("account_id", "账号", "str", True),
                C("op_time", "操作时间", "ts", True),
                C("op_type", "操作类型", "code", True, OP_TYPES),
                C("terminal", "终端", "code", codes=TERMINALS),
                C("lon", "经度", "float"),
                C("lat", "纬度", "float"),
                C("coord_sys", "坐标系", "code", codes=COORD_SYS),
                C("updated_at", "更新时间", "ts"),
            ),
            key=("log_id",), month_col="op_time", updated_fallback="op_time",
        ),
        Dataset(
            "events", "事件",
            (
                C("event_id", "事件编号", "str", True),
                C("reported_at", "上报时间", "ts", True),
                C("reporter_account", "上报账号"),
                C("grid_code", "所属网格", "str", True),
                C("category", "事件类别", "code", True, EVENT_CATEGORIES),
                C("source", "事件来源", "code", codes=EVENT_SOURCES),
                C("summary", "事件描述", personal="text"),
                C("lon", "经度", "float"),
                C("lat", "纬度", "float"),
                C("coord_sys", "坐标系", "code", codes=COORD_SYS),
                C("handling_level", "办理层级", "code", codes=HANDLING_LEVELS),
                C("status", "状态", "code", True, EVENT_STATUS),
                C("deadline", "办理时限", "ts", future_ok=True),
                C("closed_at", "办结时间", "ts"),
                C("satisfaction", "满意度", "code", codes=SATISFACTION),
                C("supervision", "督办", "code", codes=SUPERVISION),
                C("updated_at", "更新时间", "ts", True),
            ),
            key=("event_id",), month_col="reported_at", county_col="grid_code",
        ),
        Dataset(
            "event_flow", "事件流转",
            (
                C("event_id", "事件编号", "str", True),
                C("seq", "序号", "int", True),
                C("action", "操作", "code", True, FLOW_ACTIONS),
                C("from_unit", "发出单位"),
                C("to_unit", "接收单位"),
                C("account_id", "操作账号"),
                C("action_time", "操作时间", "ts", True),
                C("note", "备注", personal="text"),
                C("updated_at", "更新时间", "ts"),
            ),
            key=("event_id", "seq"), month_col="action_time", updated_fallback="action_time",
        ),
        Dataset(
            "key_person_reports", "重点人员信息报送",
            (
                C("report_id", "报送编号", "str", True),
                C("category", "人员类别", "code", True, KP_CATEGORIES),
                C("id_number", "身份证号", personal="id"),
                C("person_name", "姓名", personal="name"),
                C("grid_code", "所属网格", "str", True),
                C("reporter_account", "报送账号"),
                C("reported_at", "报送时间", "ts", True),
                C("police_station", "接收派出所"),
                C("police_signed_at", "派出所签收时间", "ts"),
                C("justice_office", "接收司法所"),
                C("justice_signed_at", "司法所签收时间", "ts"),
                C("health_center", "接收卫生院"),
                C("health_signed_at", "卫生院签收时间", "ts"),
                C("updated_at", "更新时间", "ts", True),
            ),
            key=("report_id",), month_col="reported_at", county_col="grid_code",
            code_aliases={"category": KP_ALIASES},
        ),
        Dataset(
            "collection_stats", "基础信息采集统计",
            (
                C("grid_code", "网格编码", "str", True),
                C("stat_date", "统计日期", "date", True),
                C("households_collected", "已采集户数", "int"),
                C("persons", "人口信息", "int"),
                C("floating", "流动人口", "int"),
                C("houses", "实有房屋", "int"),
                C("rentals", "出租房屋", "int"),
                C("key_places", "重点场所", "int"),
                C("updated_at", "更新时间", "ts"),
            ),
            key=("grid_code", "stat_date"), month_col="stat_date", updated_fallback="stat_date",
            county_col="grid_code",
        ),
    ]
}

FILE_EXTENSIONS = ("xlsx", "csv", "json", "jsonl")


PERSONAL_KINDS = ("name", "id", "phone", "text")


def personal_columns(kind: str) -> tuple[str, ...]:
    """The columns of the contract that hold personal data of this kind, in contract order, each name once."""
    if kind not in PERSONAL_KINDS:
        raise ValueError(kind)
    return tuple(dict.fromkeys(c.name for d in DATASETS.values() for c in d.columns if c.personal == kind))
