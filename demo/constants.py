"""The demo county's fixed shape: names, rates, weights and the calendar constants of the generator."""
from __future__ import annotations

import calendar

from core.spec import EVENT_CATEGORIES, EVENT_SOURCES, FLOW_ACTIONS, KP_OFFICES, OP_TYPES

TRUTH_FILE = "_demo_truth.json"
COUNTY_CODE = "510799"
COUNTY_NAME = "示例县"
SYSTEM = "示例县网格化服务管理信息系统"
# The counties of the demo city (示例市, a prefecture's 10 counties for the benchmark's city scale): county_index 0
# is 示例县; the others are fictional names (demo.writers.county_name), each with its 区划代码 (county_code).
CITY_NAME, CITY_CODE = "示例市", "510700"
COUNTY_NAMES = ("示例县", "东岭县", "西河县", "南屏县", "北坪县", "青溪县", "白鹭县", "松岭县", "柳塘县", "云台县")

# The 乡镇 of domain.md ("The demo county"), in the bulletin's order. 文昌镇 is the county seat.
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

# Patterns beyond the official rate (issue 16), played in the last month(s) and recorded in the truth's "patterns".
# Gaming grid workers (网格员 open through the whole period) of these 乡镇, one pattern each: GAMING_LAST of every
# signal game in the last month (and in each earlier month by chance), GAMING_EARLIER more only in earlier months.
GAMING_TOWNS = ("石牛镇", "仁和镇", "石台乡", "仙鹅乡", "豢龙镇", "交泰乡", "七曲山镇", "许州镇")
GAMING_SIGNALS = ("login_only", "bunched", "night_batch", "same_gps", "outside_grid")
GAMING_LAST, GAMING_EARLIER = 12, 8
# 乡镇 whose weekly figure collapses in the last month: metric, weeks, and from which week (0: the first week clear
# of holidays from the second full ISO week of the month, 1: the week after)
COLLAPSE = {"玛瑙镇": ("activity", 1, 0), "观义镇": ("activity", 1, 1), "宝石乡": ("completion", 1, 0)}
SILENT = ("东石乡", 18)  # reports no event in its last n days
QUIET = ("collection_stats", 10)  # delivers no record of its last n days
