"""The pages' money filter: cents for a cent or more, the significant digits below that."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template

from orchestrator_site.web.templatetags.money import dollars


@pytest.mark.parametrize(
    "value, shown",
    [
        (0, "$0.00"),
        (Decimal("12.5"), "$12.50"),
        (1234.567, "$1,234.57"),
        (Decimal("0.01"), "$0.01"),
        (Decimal("0.000114"), "$0.000114"),  # six gateway calls at $2/1M, not "$0.00"
        (0.000038, "$0.000038"),
        (Decimal("0.000000001"), "$0.000000001"),  # one nano-dollar
        (Decimal("-0.5"), "-$0.50"),
        (None, ""),
        ("n/a", ""),
    ],
)
def test_dollars(value, shown):
    assert dollars(value) == shown


def test_the_filter_loads_in_a_template():
    assert Template("{% load money %}{{ x|dollars }}").render(Context({"x": Decimal("0.000114")})) == "$0.000114"
