"""What the agents and the Django site both need and neither owns: environment helpers and paths.

A leaf package: it imports nothing of this repository, so ``agents`` can use it
without importing ``orchestrator_site`` (and the site's settings can use it
without importing the agents). ``env`` holds the typed helpers settings.py
reads the environment with; ``paths`` the runtime directories and the one
function that names a socket file.
"""
