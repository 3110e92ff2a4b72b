"""What several apps need and none owns: environment helpers, paths, strict serializer fields.

A leaf package: it imports nothing of this repository, so ``agents`` can use it
without importing ``orchestrator_site`` (and the site's settings can use it
without importing the agents). ``env`` holds the typed helpers settings.py
reads the environment with; ``paths`` the runtime directories and the one
function that names a socket file; ``serializer_fields`` the DRF fields whose
schema is what they accept (the router's serializers and the web app's).
"""
