"""ASGI entry point served by Daphne: HTTP through Django, WebSocket /ws/."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
django_asgi_app = get_asgi_application()

application = django_asgi_app
