"""What each 好差评 rate counts, written once: the monthly reports, the ticket desk and the API use
these definitions (docs/domain.md, "How the rates count", says the same in prose).

The kernel owns them because reports and rectification may not import each other: the two ticket
state names and the 回访 outcomes are repeated here as plain strings (they are
`rectification.model.State` and `Satisfaction` values; a unit test checks they agree).
"""

from __future__ import annotations

from dataclasses import dataclass

# Ticket states that end a ticket (rectification.model.CLOSED_STATES).
CLOSED = "closed"  # rectified or explained, by any close (plain, 复核, 已整改群众仍不满意)
CLOSED_INVALID = "closed_invalid"  # an appeal upheld (恶意/误评): 无效差评

# 回访 outcomes that count as a 回访 done: the citizen's view, or a recorded reason for none.
VIEWS = ("satisfied", "basically_satisfied", "dissatisfied")
NO_VIEW = ("unreachable", "refused")  # 联系不上 (after the required attempts), 拒绝回访
FEEDBACK_OUTCOMES = VIEWS + NO_VIEW

# The definitions, in the words shown on the report page, in the API and on the desk.
DEFINITIONS: dict[str, str] = {
    "ratings": "本月收到的首次评价数，不含默认评价（pf=7）；追加评价另行统计，不计入各项比率",
    "follow_ups": "追加评价：群众对同一服务记录的第二次评价，单独列出，不算作又一次评价；"
    "实名差评的追加评价并入该服务记录的工单（已办结的重新打开），不另开工单",
    "invalid_bad": "无效差评：申诉成立（恶意差评、误评）的差评；不计入差评率、好评率的分母，"
    "也不计入回访率、整改率",
    "good_rate": "好评率 = 好评数 / 有效评价数；好评为非常满意、满意（以及按设置计入的基本满意）；"
    "有效评价数 = 首次评价数 − 无效差评",
    "bad_rate": "差评率 = 有效差评数（不满意、非常不满意的首次评价，不含无效差评）/ 有效评价数",
    "valid_tickets": "有效工单：本月开立、统计时点不是“申诉成立”的工单；一条服务记录只有一张工单，"
    "因追加差评重新打开的工单仍只算一张",
    "feedback_rate": "回访率 = 已回访的有效工单 / 有效工单；已回访指登记了回访结果："
    "满意、基本满意、不满意，或经不少于规定次数（不同日期）尝试后的“联系不上”，"
    "或“拒绝回访”（后两者另行列出）",
    "rectification_rate": "整改率 = 已办结的有效工单 / 有效工单；办结包括正常办结、"
    "联系不上或拒绝回访经监督员复核办结、重办达到规定轮次后“已整改、群众仍不满意”办结；"
    "重新打开尚未再次办结的不计",
    "on_time_rate": "按时办结率 = 在各环节时限之和内办结的工单 / 已办结的工单；"
    "用时不计等待群众补正材料而暂停的工作日",
    "reopened": "重办工单：群众对整改结果仍不满意而重新整改过，或因追加差评重新打开过的工单",
}


@dataclass(frozen=True)
class TicketCounts:
    """Where one ticket stands in the rates, by the definitions above."""

    valid: bool
    feedback_done: bool
    no_view: bool
    rectified: bool
    reopened: bool


def ticket_counts(
    state: str, feedback_satisfaction: str, redo_count: int, reopen_count: int
) -> TicketCounts:
    valid = state != CLOSED_INVALID
    return TicketCounts(
        valid=valid,
        feedback_done=valid and feedback_satisfaction in FEEDBACK_OUTCOMES,
        no_view=valid and feedback_satisfaction in NO_VIEW,
        rectified=state == CLOSED,
        reopened=redo_count > 0 or reopen_count > 0,
    )


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# The same rules as SQL conditions on a ticket row aliased `k` (the reports' GROUP BY queries).
def valid_sql(k: str = "k") -> str:
    return f"{k}.state <> '{CLOSED_INVALID}'"


def feedback_done_sql(k: str = "k") -> str:
    return f"{k}.feedback_satisfaction IN ({_in(FEEDBACK_OUTCOMES)}) AND {valid_sql(k)}"


def no_view_sql(k: str = "k") -> str:
    return f"{k}.feedback_satisfaction IN ({_in(NO_VIEW)}) AND {valid_sql(k)}"


def rectified_sql(k: str = "k") -> str:
    return f"{k}.state = '{CLOSED}'"


def reopened_sql(k: str = "k") -> str:
    return f"({k}.redo_count > 0 OR {k}.reopen_count > 0)"
