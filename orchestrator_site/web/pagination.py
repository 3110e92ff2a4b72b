"""Page-numbered lists whose ``page`` parameter is what the schema says: an integer."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination


class PageNumberOnly(PageNumberPagination):
    def get_page_number(self, request: Any, paginator: Any) -> Any:
        # DRF reads an empty ?page= as page 1; here it is the invalid page it is (404, like ?page=x),
        # since the schema documents page as an integer.
        if request.query_params.get(self.page_query_param) == "":
            return ""
        return super().get_page_number(request, paginator)
