"""Pure rating rules of DESIGN.md §3, codes, and rating tokens: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from evaluation_service.evaluations import model
from evaluation_service.evaluations.tokens import RatingTokens
from evaluation_service.kernel.errors import Gone, InvalidInput, Unauthenticated
from evaluation_service.kernel.workdays import WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFERED = {5: frozenset({"510"}), 2: frozenset({"101"}), 1: frozenset({"103"})}


def rating(**overrides: object) -> model.RatingInput:
    fields: dict[str, object] = {
        "channel": "mobile",
        "level": 5,
        "tags": [],
        "comment": "",
        "assess_number": 1,
        "idempotency_key": "key-00000001",
        "client_time": None,
        "indicators": OFFERED,
        "comment_max_chars": 10,
    }
    fields.update(overrides)
    return model.check_rating(**fields)  # type: ignore[arg-type]


def refusal(**overrides: object) -> str:
    with pytest.raises(InvalidInput) as raised:
        rating(**overrides)
    return raised.value.code


def test_a_good_rating_needs_no_reason() -> None:
    assert rating().level == 5


def test_a_bad_rating_needs_a_tag_or_a_comment() -> None:
    assert refusal(level=2) == "bad_review_needs_reason"
    assert rating(level=2, tags=["101"]).tags == ("101",)
    assert rating(level=1, comment="太慢").comment == "太慢"


def test_a_whitespace_comment_is_no_reason() -> None:
    assert refusal(level=1, comment="   ") == "bad_review_needs_reason"


def test_tags_must_belong_to_the_level() -> None:
    assert refusal(level=5, tags=["101"]) == "tag_not_for_level"


def test_repeated_tags_are_kept_once() -> None:
    assert rating(level=2, tags=["101", "101"]).tags == ("101",)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"channel": "fax"}, "unknown_channel"),
        ({"level": 0}, "bad_level"),
        ({"level": 6}, "bad_level"),
        ({"assess_number": 3}, "bad_assess_number"),
        ({"idempotency_key": "short"}, "bad_idempotency_key"),
        ({"comment": "长" * 11}, "comment_too_long"),
    ],
)
def test_each_malformed_field_gets_its_own_code(overrides: dict[str, object], code: str) -> None:
    assert refusal(**overrides) == code


def test_bad_means_level_two_or_below() -> None:
    assert [model.is_bad(level) for level in (1, 2, 3, 4, 5)] == [True, True, False, False, False]


def test_basically_satisfied_counts_as_good_only_by_setting() -> None:
    assert model.is_good(3, basic_satisfied_counts_as_good=True)
    assert not model.is_good(3, basic_satisfied_counts_as_good=False)


def test_unified_social_credit_codes_are_checked_by_their_check_character() -> None:
    first17 = "91370124MA3C0000X"
    good = first17 + model.uscc_check_char(first17)
    wrong = first17 + ("0" if good[-1] != "0" else "1")

    assert model.is_valid_uscc(good)
    assert not model.is_valid_uscc(wrong)
    assert not model.is_valid_uscc(good[:17])


def test_resident_id_numbers_are_checked_by_their_check_digit() -> None:
    assert model.is_valid_resident_id("11010519491231002X")
    assert not model.is_valid_resident_id("110105194912310021")


def test_item_codes_are_31_or_33_characters() -> None:
    assert model.check_item_code("1" * 31) and model.check_item_code("1" * 33)
    with pytest.raises(InvalidInput):
        model.check_item_code("1" * 32)


def test_an_applicant_with_name_and_phone_is_identified() -> None:
    assert model.Applicant(type=1, name="张三", phone="13800001234").identified
    assert not model.Applicant(type=1, phone="13800001234").identified
    assert not model.Applicant(type=1, name="张三").identified


def test_the_rating_window_skips_national_day_and_counts_the_make_up_saturday() -> None:
    # 2025-09-30 service; Oct 1–8 off; Oct 9, 10, 11 (make-up Saturday), 13, 14 are the 5 days.
    occurred = datetime(2025, 9, 30, 16, 0, tzinfo=SHANGHAI)

    deadline, estimated = model.rating_deadline(occurred, WorkCalendar(), 5, SHANGHAI)

    assert deadline.astimezone(SHANGHAI).date().isoformat() == "2025-10-14"
    assert (deadline.astimezone(SHANGHAI).hour, deadline.astimezone(SHANGHAI).minute) == (23, 59)
    assert estimated is False


def test_the_rating_window_uses_the_county_day_not_the_utc_day() -> None:
    # 01:00 in Shanghai on Friday 2026-11-27 is still Thursday in UTC.
    occurred = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)

    deadline, _ = model.rating_deadline(occurred, WorkCalendar(), 1, SHANGHAI)

    assert deadline.astimezone(SHANGHAI).date().isoformat() == "2026-11-30"


def test_a_window_reaching_into_an_unpublished_year_is_marked_estimated() -> None:
    occurred = datetime(2026, 12, 28, 10, 0, tzinfo=SHANGHAI)

    deadline, estimated = model.rating_deadline(occurred, WorkCalendar(), 5, SHANGHAI)

    assert deadline.astimezone(SHANGHAI).year == 2027
    assert estimated is True


def test_a_token_carries_its_record_and_real_name_flag() -> None:
    tokens = RatingTokens("secret")
    expires = datetime.now(UTC) + timedelta(days=1)

    claims = tokens.verify(tokens.issue(42, expires, True), datetime.now(UTC))

    assert (claims.record_id, claims.real_name) == (42, True)


@pytest.mark.parametrize("position", [0, 1, 2])
def test_changing_any_part_of_a_token_breaks_it(position: int) -> None:
    tokens = RatingTokens("secret")
    parts = tokens.issue(42, datetime.now(UTC) + timedelta(days=1), False).split(".")
    parts[position] = "1" if parts[position] != "1" else "2"

    with pytest.raises(Unauthenticated):
        tokens.verify(".".join(parts), datetime.now(UTC))


def test_a_token_of_another_secret_is_refused() -> None:
    token = RatingTokens("one").issue(42, datetime.now(UTC) + timedelta(days=1), False)

    with pytest.raises(Unauthenticated):
        RatingTokens("two").verify(token, datetime.now(UTC))


def test_an_expired_token_says_the_window_closed() -> None:
    tokens = RatingTokens("secret")
    token = tokens.issue(42, datetime.now(UTC) - timedelta(seconds=1), False)

    with pytest.raises(Gone):
        tokens.verify(token, datetime.now(UTC))


# --- handling facts and the indicator dictionary -------------------------------------------------


def handling(**overrides: object) -> model.Handling:
    fields: dict[str, object] = {
        "project_name": "",
        "online": False,
        "item_kind": None,
        "case_kind": None,
        "promised_days": None,
    }
    fields.update(overrides)
    return model.check_handling(**fields)  # type: ignore[arg-type]


def test_handling_left_out_defers_to_the_item() -> None:
    assert handling() == model.Handling()
    assert handling(item_kind="").item_kind is None


def test_handling_facts_are_typed() -> None:
    given = handling(project_name=" 李四的结婚登记 ", item_kind="07", case_kind="immediate")
    assert (given.project_name, given.item_kind, given.case_kind) == (
        "李四的结婚登记",
        model.ItemKind.confirmation,
        model.CaseKind.immediate,
    )


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("item_kind", "02", "bad_item_kind"),
        ("case_kind", "", "bad_case_kind"),
        ("promised_days", 3651, "bad_promised_days"),
        ("promised_days", -1, "bad_promised_days"),
    ],
)
def test_handling_outside_the_national_codes_is_refused(
    field: str, value: object, error: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        handling(**{field: value})
    assert (raised.value.code, raised.value.field) == (error, field)


def test_an_agent_with_a_certificate_needs_a_name() -> None:
    with pytest.raises(InvalidInput) as raised:
        model.check_agent(model.Agent(cert_type="111", cert_no="11010519491231002X"))
    assert raised.value.code == "agent_without_name"


def test_an_indicator_row_repeated_with_the_same_text_counts_once() -> None:
    rows = [(2, "101", "服务态度差"), (2, "101", " 服务态度差 "), (1, "101", "服务态度差")]
    assert model.check_indicator_rows(rows) == {(2, "101"): "服务态度差", (1, "101"): "服务态度差"}


def test_an_empty_indicator_dictionary_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        model.check_indicator_rows([])
    assert raised.value.code == "empty_indicator_dictionary"
