"""The national rating indicators (评价指标, evalDetail) as the simulated norm interface serves.

What the evidence shows, and what it does not:
- Indicators are the nation's, numbered, sent comma-separated in `evalDetail`; the province
  serves them from a "norm" interface (HcpController.getnorm posts appMark/time/sign to
  HcpNormUrl and hands the answer on untouched — LouisCherry/tempproject134,
  java/com/epoint/hcp/rest/controller/HcpController.java). The answer's shape is not shown.
- Exactly two codes are seen on the wire: `510,517`, sent with satisfaction 5 by the default
  good rating of Jining's vendor code (same file, addEvaluateRecord). Their texts are not
  seen.
- National guidance seen on public pages: the content offered depends on the level chosen and
  is versioned; the second-level indicators are 办事效率, 办事指南精确度, 办事便捷度,
  平台操作性 (online) and 服务效率, 服务水平, 服务态度 (offline)
  (http://www.jiakaoti.com/page95?article_id=100).

So every text below, and every code but 510 and 517, is ASSUMED. The numbering follows the one
clue there is: the 5xx codes seen with level 5 are offered for the good levels (4, 5); 3xx for
基本满意; 1xx for the bad levels (1, 2). Levels are the province's numbering, in which
5 is 非常满意 and 1 is 非常不满意 (see model.py).
"""

from __future__ import annotations

from dataclasses import dataclass

NORM_VERSION = "SIM-2020.1"


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    levels: tuple[int, ...]
    seen: bool  # True: the code is seen in public integration code (its text still assumed)

    def wire(self) -> dict[str, str]:
        return {
            "code": self.code,
            "name": self.name,
            "satisfaction": ",".join(str(level) for level in self.levels),
            "version": NORM_VERSION,
        }


_GOOD = (4, 5)
_FAIR = (3,)
_BAD = (1, 2)

INDICATORS: tuple[Indicator, ...] = (
    Indicator("501", "办事指南清晰准确", _GOOD, seen=False),
    Indicator("502", "一次性告知到位", _GOOD, seen=False),
    Indicator("503", "申请材料精简", _GOOD, seen=False),
    Indicator("504", "办理时间短", _GOOD, seen=False),
    Indicator("505", "少跑腿或不跑腿", _GOOD, seen=False),
    Indicator("506", "网上办理便捷", _GOOD, seen=False),
    Indicator("507", "平台操作简便", _GOOD, seen=False),
    Indicator("508", "等候时间短", _GOOD, seen=False),
    Indicator("509", "服务热情", _GOOD, seen=False),
    Indicator("510", "服务态度好", _GOOD, seen=True),
    Indicator("511", "耐心解答问题", _GOOD, seen=False),
    Indicator("512", "业务熟练", _GOOD, seen=False),
    Indicator("513", "办理结果符合预期", _GOOD, seen=False),
    Indicator("514", "大厅环境整洁舒适", _GOOD, seen=False),
    Indicator("515", "引导服务到位", _GOOD, seen=False),
    Indicator("516", "收费规范透明", _GOOD, seen=False),
    Indicator("517", "一次办成", _GOOD, seen=True),
    Indicator("518", "承诺时限内办结", _GOOD, seen=False),
    Indicator("301", "服务态度一般", _FAIR, seen=False),
    Indicator("302", "办理速度一般", _FAIR, seen=False),
    Indicator("303", "等候时间稍长", _FAIR, seen=False),
    Indicator("304", "指引说明有待改进", _FAIR, seen=False),
    Indicator("305", "材料要求稍多", _FAIR, seen=False),
    Indicator("306", "平台操作较复杂", _FAIR, seen=False),
    Indicator("101", "服务态度差", _BAD, seen=False),
    Indicator("102", "未一次性告知导致多次跑腿", _BAD, seen=False),
    Indicator("103", "收取办事指南以外材料", _BAD, seen=False),
    Indicator("104", "超承诺时限办结", _BAD, seen=False),
    Indicator("105", "等待时间长", _BAD, seen=False),
    Indicator("106", "平台系统不好用", _BAD, seen=False),
    Indicator("107", "办事指南不清晰不准确", _BAD, seen=False),
    Indicator("108", "工作人员业务不熟练", _BAD, seen=False),
    Indicator("109", "推诿扯皮、拖延办理", _BAD, seen=False),
    Indicator("110", "吃拿卡要", _BAD, seen=False),
)

BY_CODE: dict[str, Indicator] = {indicator.code: indicator for indicator in INDICATORS}


def norm_list() -> list[dict[str, str]]:
    """The norm interface's answer body."""
    return [indicator.wire() for indicator in INDICATORS]
