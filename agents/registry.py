"""Which Agent class serves which agent type (``run_agent <type>`` looks here).

Classes are imported lazily so an agent process loads only its own code.
"""

from __future__ import annotations

from importlib import import_module

AGENT_CLASSES: dict[str, str] = {
    "naming": "agents.naming.agent.NamingAgent",
    "struct": "agents.struct.agent.StructAgent",
    "semantic": "agents.semantic.agent.SemanticAgent",
    "manager": "agents.manager.agent.ManagerAgent",
}


def agent_class(agent_type: str) -> type:
    """The Agent subclass for a type; KeyError if the type has no implementation."""
    dotted = AGENT_CLASSES[agent_type]
    module_name, _, class_name = dotted.rpartition(".")
    return getattr(import_module(module_name), class_name)
