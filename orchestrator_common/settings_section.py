"""One dict setting of settings.py (``LLMROUTER``, ``GATEWAY``) read by key, cheaply, many times a request.

settings.py fills each dict from the environment and is the one home of every default, so a reader only
indexes: a missing key is a broken settings module (the apps' system checks name it at start), never a
second default. The dict is looked up on ``django.conf.settings`` once and again only after Django's
``setting_changed`` (override_settings, pytest-django's ``settings`` fixture): the gateway asks per request,
and a plain dict lookup is cheaper than LazySettings' attribute access.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed


class SettingsSection:
    def __init__(self, setting: str) -> None:
        self.setting = setting
        self._values: dict[str, Any] | None = None
        setting_changed.connect(self._forget)  # weakly: the receiver lives as long as this section

    def get(self, name: str) -> Any:
        values = self._values
        if values is None:
            values = self._values = getattr(settings, self.setting)
        return values[name]

    def _forget(self, *, setting: str, **kwargs: Any) -> None:
        if setting == self.setting:
            self._values = None
