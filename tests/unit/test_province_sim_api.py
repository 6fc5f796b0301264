"""How the simulator is told which answer style each item endpoint uses (E3 desc, E4 code)."""

from __future__ import annotations

import pytest

from connectors.province_sim.api import AnswerStyle, parse_styles
from connectors.province_sim.model import Kind

DESC, CODE = AnswerStyle.DESC, AnswerStyle.CODE


def test_one_word_sets_every_item_endpoint() -> None:
    assert parse_styles("code") == {Kind.RECORD: CODE, Kind.RATING: CODE, Kind.RESULT: CODE}


def test_pairs_set_single_endpoints_and_leave_the_rest_at_the_base() -> None:
    styles = parse_styles("ratings=code", {kind: DESC for kind in Kind})

    assert styles == {Kind.RECORD: DESC, Kind.RATING: CODE, Kind.RESULT: DESC}


def test_a_mapping_from_the_faults_endpoint_names_kinds() -> None:
    base = parse_styles("code")

    assert parse_styles({"record": "desc"}, base)[Kind.RECORD] is DESC
    assert parse_styles({"record": "desc"}, base)[Kind.RATING] is CODE


@pytest.mark.parametrize("value", ["json", "rating=xml", 3])
def test_an_unknown_style_is_an_error(value: object) -> None:
    with pytest.raises(ValueError):
        parse_styles(value)
