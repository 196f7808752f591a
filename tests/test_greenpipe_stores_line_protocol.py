"""Column-wise line protocol: byte-for-byte what influxdb-client's ``Point`` writes."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision

from greenpipe.stores.line_protocol import FieldValue, encode, encode_point
from tests.test_store_contract import HOSTILE_METERS

HOSTILE_SITES = ["site 'quoted'", 'サイト,="x"', "plant", "ends with \\", "a b=c,d"]


def _point_line(measurement: str, tags: Mapping[str, str | None],
                fields: Mapping[str, FieldValue], ts: int) -> str:
    point = Point(measurement)
    for key, tag in tags.items():
        point = point.tag(key, tag)
    for key, value in fields.items():
        point = point.field(key, value)
    return str(point.time(ts, WritePrecision.MS).to_line_protocol())


def test_hand_written_lines() -> None:
    lines = encode(
        "energy",
        {"site": ["工場,A=1", "plant"], "meter": ["メーター 1", "m"]},
        {"quality": ["", 'a"b\\c'], "energy_kwh": [3.0, None], "n": [2, 7], "ok": [True, False],
         "power_kw": [math.nan, 0.25]},
        [1743469200000, 5],
    )
    assert lines == [
        'energy,meter=メーター\\ 1,site=工場\\,A\\=1 energy_kwh=3,n=2i,ok=true,quality="" '
        "1743469200000",
        'energy,meter=m,site=plant n=7i,ok=false,power_kw=0.25,quality="a\\"b\\\\c" 5',
    ]


def test_a_point_without_fields_is_an_empty_line() -> None:
    assert encode("m", {"t": ["x"]}, {"f": [None]}, [1]) == [""]
    assert encode("m", {}, {}, [1, 2]) == ["", ""]


def test_columns_must_match_the_timestamps() -> None:
    with pytest.raises(ValueError, match="column 'f' has 1 values for 2 timestamps"):
        encode("m", {}, {"f": [1.0]}, [1, 2])


def test_unsupported_field_type_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="field 'f': cannot write a bytes"):
        encode("m", {}, {"f": [b"x"]}, [1])  # type: ignore[list-item]


@pytest.mark.parametrize("meter", HOSTILE_METERS)
@pytest.mark.parametrize("site", HOSTILE_SITES)
def test_hostile_names_match_point(meter: str, site: str) -> None:
    tags: dict[str, str | None] = {"meter": meter, "site": site, "kind": "electricity",
                                   "sector": ""}
    fields: dict[str, FieldValue] = {"energy_kwh": 1.5, "register_kwh": 1e16,
                                     "quality": 'x,"y"', "power_kw": None}
    assert encode_point("energy", tags, fields, 1743469200000) == \
        _point_line("energy", tags, fields, 1743469200000)


_text = st.text(max_size=12)
_value = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1), st.booleans(),
                   _text)


@settings(max_examples=300, deadline=None)
@given(measurement=_text.filter(lambda m: not m.startswith("#")),
       tag_keys=st.lists(_text, max_size=4, unique=True),
       field_keys=st.lists(_text, min_size=1, max_size=4, unique=True),
       data=st.data())
def test_matches_influxdb_client_point(measurement: str, tag_keys: list[str],
                                       field_keys: list[str], data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=5))
    tags = {k: data.draw(st.lists(st.one_of(st.none(), _text), min_size=n, max_size=n))
            for k in tag_keys}
    fields = {k: data.draw(st.lists(_value, min_size=n, max_size=n)) for k in field_keys}
    times = data.draw(st.lists(st.integers(min_value=0, max_value=2 ** 62), min_size=n,
                               max_size=n))
    expected = [
        _point_line(measurement, {k: tags[k][i] for k in tags},
                    {k: fields[k][i] for k in fields}, times[i])
        for i in range(n)
    ]
    assert encode(measurement, tags, fields, times) == expected
