"""`ScaledInt` text: exact both ways, the same text `ExactDecimal` stores, every other form parsed."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftloop.adapters.db.types import quantize, scaled_text, text_scaled

LIMIT = 10**38 - 1


@given(st.integers(min_value=-LIMIT, max_value=LIMIT))
def test_round_trip_and_same_text_as_exact_decimal(value: int) -> None:
    text = scaled_text(value)
    assert text_scaled(text) == value
    exact = Decimal(value).scaleb(-18, decimal.Context(prec=80))
    assert text == format(quantize(exact), "f")  # what ExactDecimal stores


@pytest.mark.parametrize(
    ("text", "value"),
    [("0E-18", 0), ("-0.500000000000000000", -(5 * 10**17)), ("1.5", 15 * 10**17), ("2", 2 * 10**18)],
)
def test_other_forms(text: str, value: int) -> None:
    assert text_scaled(text) == value


def test_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        scaled_text(10**38)
