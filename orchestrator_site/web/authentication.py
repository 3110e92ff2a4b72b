"""DRF authentication: the stock token scheme, also accepting ``Bearer``
(what Prometheus and most HTTP tooling send)."""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication, get_authorization_header


class TokenOrBearerAuthentication(TokenAuthentication):
    def authenticate(self, request: Any) -> Any:
        auth = get_authorization_header(request).split()
        if auth and auth[0].lower() == b"bearer":
            self.keyword = "Bearer"
        else:
            self.keyword = "Token"
        return super().authenticate(request)
