"""``{{ amount|dollars }}``: money as the pages show it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()


@register.filter
def dollars(value: Any) -> str:
    """$1,234.57 for a cent or more; a smaller amount keeps its significant digits ($0.000114), so the spend of
    a few gateway calls does not read as $0.00 while the ledger holds it to the nano-dollar."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    sign, size = ("-" if amount < 0 else ""), abs(amount)
    if size == 0 or size >= Decimal("0.01"):
        return f"{sign}${size:,.2f}"
    return f"{sign}${size.quantize(Decimal('1e-9')).normalize():f}"
