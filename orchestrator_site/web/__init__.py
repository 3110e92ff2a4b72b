"""The web interfaces: POST /api/request, the /ws/ consumer, REST resources,
API auth and throttling, /metrics and the admin dashboard."""
