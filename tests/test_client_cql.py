"""The connector's CQL builder: quoting, minute rounding in the user's zone, overlap, composition."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from confluence_pipeline.confluence.cql import (and_, cql_date, field_in, field_not_in, modified_before,
                                                modified_since, or_, order_by, quote)

UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")


@pytest.mark.parametrize("value, expected", [
    ("ENG", '"ENG"'),
    ('say "hi"', r'"say \"hi\""'),
    ("back\\slash", r'"back\\slash"'),
    ('\\"', r'"\\\""'),  # the backslash is escaped before the quote, so neither is lost
    ("", '""'),
])
def test_quote(value, expected):
    assert quote(value) == expected


def test_cql_date_floors_to_the_minute_in_the_given_zone():
    assert cql_date(datetime(2024, 5, 1, 12, 34, 59, 999999, tzinfo=UTC), UTC) == "2024-05-01 12:34"
    assert cql_date(datetime(2024, 7, 1, 19, 5, tzinfo=UTC), LA) == "2024-07-01 12:05"  # PDT
    assert cql_date(datetime(2024, 1, 1, 19, 5, tzinfo=UTC), LA) == "2024-01-01 11:05"  # PST
    assert cql_date(datetime(2024, 1, 1, 0, 30, tzinfo=UTC), LA) == "2023-12-31 16:30"


def test_cql_date_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        cql_date(datetime(2024, 5, 1, 12, 0), UTC)


def test_modified_since_subtracts_the_overlap_and_floors():
    ts = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)
    assert modified_since(ts, UTC, overlap=timedelta(hours=1)) == 'lastmodified >= "2024-05-01 11:34"'
    assert modified_since(ts, UTC, overlap=timedelta(0)) == 'lastmodified >= "2024-05-01 12:34"'
    assert modified_since(ts, LA, overlap=timedelta(days=1)) == 'lastmodified >= "2024-04-30 05:34"'


def test_modified_before_adds_the_overlap_and_rounds_up():
    assert modified_before(datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC), UTC, overlap=timedelta(0)) \
        == 'lastmodified < "2024-05-01 12:35"'
    assert modified_before(datetime(2024, 5, 1, 12, 34, tzinfo=UTC), UTC, overlap=timedelta(0)) \
        == 'lastmodified < "2024-05-01 12:34"'  # already on a minute: unchanged
    assert modified_before(datetime(2024, 5, 1, 12, 34, 1, tzinfo=UTC), UTC, overlap=timedelta(minutes=10)) \
        == 'lastmodified < "2024-05-01 12:45"'


def test_bounds_in_the_repeated_dst_hour_stay_outside_the_window():
    second_0130 = datetime(2024, 11, 3, 9, 30, tzinfo=UTC)  # 01:30 PST, the second 01:30 that night
    # Confluence reads "01:30" as the first one (PDT, an hour earlier): fine for a lower bound...
    assert modified_since(second_0130, LA, overlap=timedelta(0)) == 'lastmodified >= "2024-11-03 01:30"'
    # ...but an upper bound must move past the repeated hour
    assert modified_before(second_0130, LA, overlap=timedelta(0)) == 'lastmodified < "2024-11-03 02:30"'
    first_0130 = datetime(2024, 11, 3, 8, 30, tzinfo=UTC)  # 01:30 PDT reads back exactly
    assert modified_before(first_0130, LA, overlap=timedelta(0)) == 'lastmodified < "2024-11-03 01:30"'


def test_overlap_must_not_be_negative():
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="overlap must not be negative"):
        modified_since(ts, UTC, overlap=timedelta(minutes=-5))
    with pytest.raises(ValueError, match="overlap must not be negative"):
        modified_before(ts, UTC, overlap=timedelta(minutes=-5))


def test_field_lists():
    assert field_in("space", ["ENG", "HR"]) == 'space in ("ENG","HR")'
    assert field_in("type", ("page",)) == 'type in ("page")'
    assert field_not_in("label", ['a"b']) == r'label not in ("a\"b")'
    with pytest.raises(ValueError, match="no values for 'space'"):
        field_in("space", [])
    with pytest.raises(ValueError, match="not a CQL field name"):
        field_in("space) or (type", ["x"])


def test_and_drops_empty_clauses_and_wraps_or_groups():
    assert and_(None, 'type in ("page")', "", None) == 'type in ("page")'
    assert and_('type in ("page")', 'space = "A" or space = "B"') \
        == 'type in ("page") and (space = "A" or space = "B")'
    # "or" inside quotes or parentheses is not a top-level or
    assert and_('title = "this or that"', '(a = "1" or a = "2")') \
        == 'title = "this or that" and (a = "1" or a = "2")'
    assert and_('type in ("page")', 'title = "x" and label = "y"') \
        == 'type in ("page") and title = "x" and label = "y"'


def test_or_joins_without_parentheses():
    assert or_('type in ("page")', 'label in ("x")') == 'type in ("page") or label in ("x")'
    assert or_('a = "1" and b = "2"', 'c = "3"') == 'a = "1" and b = "2" or c = "3"'


def test_a_negative_clause_never_comes_first():
    negative = field_not_in("label", ["draft"])
    assert and_(negative, field_in("type", ["page"])) == 'type in ("page") and label not in ("draft")'
    assert and_("not label = x", "space = A", "title != y") == "space = A and not label = x and title != y"
    assert and_('(title !~ "x")', "space = A") == 'space = A and (title !~ "x")'
    assert or_('label != "x"', "type = page") == 'type = page or label != "x"'
    assert and_("notes = 1", "x = 2") == "notes = 1 and x = 2"  # a field starting with "not" is positive


@pytest.mark.parametrize("combine", [and_, or_])
def test_only_negative_clauses_are_refused(combine):
    with pytest.raises(ValueError, match="only negative clauses.*add a positive clause"):
        combine(field_not_in("label", ["x"]), "space != A")


@pytest.mark.parametrize("combine", [and_, or_])
def test_no_clause_is_refused(combine):
    with pytest.raises(ValueError, match="got no clause"):
        combine(None, "")


def test_order_by():
    assert order_by("lastmodified") == "order by lastmodified asc"
    assert order_by("created", "DESC") == "order by created desc"
    with pytest.raises(ValueError, match="cannot order by 'popularity'"):
        order_by("popularity")
    with pytest.raises(ValueError, match="'asc' or 'desc'"):
        order_by("title", "up")


def test_a_full_sync_query():
    since = datetime(2024, 5, 1, 19, 0, 42, tzinfo=UTC)
    cql = and_(field_in("type", ["page", "blogpost"]), field_in("space", ["ENG", "HR"]),
               modified_since(since, LA, overlap=timedelta(hours=1))) + " " + order_by("lastmodified")
    assert cql == ('type in ("page","blogpost") and space in ("ENG","HR") and '
                   'lastmodified >= "2024-05-01 11:00" order by lastmodified asc')
