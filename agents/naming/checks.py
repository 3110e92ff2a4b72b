"""System checks for the naming agent's configuration.

A bad ``AgentType.config`` of "naming" is reported as naming.W001. Tagged
``database``: Django runs it only when a command asks for database checks
(``migrate``, ``check --database default``), never at import time or for
commands that should work without a database.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Tags, Warning, register


@register(Tags.database)
def check_naming_config(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[Warning]:
    if not databases:
        return []
    from django.db import DatabaseError

    from agents.naming.conf import NamingConfigError
    from agents.naming.selectors import naming_settings

    try:
        naming_settings()
    except NamingConfigError as exc:
        # A warning, not an error: an error would also stop ``migrate``, and the
        # agent refuses to start with this configuration anyway.
        return [Warning(str(exc), hint="Fix the config of AgentType 'naming' in the admin.", id="naming.W001")]
    except DatabaseError:
        return []  # not migrated yet: nothing to check
    return []
