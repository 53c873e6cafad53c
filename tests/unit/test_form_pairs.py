"""The form decoder gives what urllib's parse_qsl gives, on every input: its fast path for
bodies with nothing escaped must not change a single answer."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vitalkey.web.context import MAX_FORM_FIELDS, form_pairs


def reference(body: bytes) -> list[tuple[str, str]] | type[ValueError]:
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        return ValueError


def ours(body: bytes) -> list[tuple[str, str]] | type[ValueError]:
    try:
        return form_pairs(body)
    except ValueError:
        return ValueError


FORM_TEXT = st.text(alphabet=st.sampled_from("ab=&%+2F0é;_-.~ "), max_size=80)


@given(FORM_TEXT)
def test_any_form_reads_as_parse_qsl_reads_it(text: str) -> None:
    assert ours(text.encode()) == reference(text.encode())


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"&",
        b"a",
        b"a=",
        b"=b",
        b"a=b&&c=d&",
        b"a=b=c",
        b"grant_type=refresh_token&refresh_token=abc-_DEF&client_id=x&client_secret=y",
        b"a=%C3%A9&b=x+y",
        b"a=%ff",  # not UTF-8 once unescaped
        b"\xff=1",  # not UTF-8
        b"&".join([b"f=1"] * MAX_FORM_FIELDS),
        b"&".join([b"f=1"] * (MAX_FORM_FIELDS + 1)),
        b"&" * MAX_FORM_FIELDS,
    ],
)
def test_edge_cases_read_as_parse_qsl_reads_them(body: bytes) -> None:
    assert ours(body) == reference(body)
