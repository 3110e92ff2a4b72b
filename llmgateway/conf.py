"""The gateway's settings: ``settings.GATEWAY``, read when needed (per request: kept cheap).

settings.py fills the dict from the environment and is the one home of each key's default and meaning.
"""

from __future__ import annotations

from orchestrator_common.settings_section import SettingsSection

_GATEWAY = SettingsSection("GATEWAY")
# The bound method itself, not a wrapper: the request path pays one call.
get = _GATEWAY.get
