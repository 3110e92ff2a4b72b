"""``{{ amount|dollars }}``: money as the pages show it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

from llmrouter.models import exact_dollars

register = template.Library()


@register.filter
def dollars(value: Any) -> str:
    """$1,234.57 for a cent or more; a smaller amount keeps its significant digits ($0.000114), so the spend of
    a few gateway calls does not read as $0.00 while the ledger holds it to the nano-dollar."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    if amount == 0 or abs(amount) >= Decimal("0.01"):
        return f"{'-' if amount < 0 else ''}${abs(amount):,.2f}"
    return exact_dollars(amount.quantize(Decimal("1e-9")))  # to the nano-dollar, the ledger's unit
