"""ASGI entry point served by Daphne: static files, HTTP fast paths, Django; WebSocket /ws/."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
os.environ["ORCHESTRATOR_ASGI"] = "1"  # no persistent database connections under ASGI (settings.py)
django_asgi_app = get_asgi_application()

# Imported after Django is set up: these modules use the ORM and settings.
from channels.routing import ProtocolTypeRouter  # noqa: E402

from llmgateway.asgi import register_fast_paths as register_gateway_fast_paths  # noqa: E402
from orchestrator_site import health  # noqa: E402
from orchestrator_site.concurrency import ConcurrencyLimit  # noqa: E402
from orchestrator_site.daphne_tuning import skip_twisted_form_parsing, standard_reason_phrases  # noqa: E402
from orchestrator_site.fast_http import FastHttpDispatcher  # noqa: E402
from orchestrator_site.static_files import static_application  # noqa: E402
from orchestrator_site.web import fast_request, fast_route  # noqa: E402
from orchestrator_site.web.routing import websocket_application  # noqa: E402

skip_twisted_form_parsing()  # Daphne reads the raw body itself (daphne_tuning.py says what it saves)
standard_reason_phrases()  # "422 Unprocessable Entity", not Twisted's "422 Unknown Status"

# Exact hot paths answered by small async handlers, everything else by Django.
http_app = FastHttpDispatcher(fallback=ConcurrencyLimit(django_asgi_app))
fast_route.register_fast_paths(http_app)
fast_request.register_fast_paths(http_app)
register_gateway_fast_paths(http_app)
health.register_fast_paths(http_app)

# /static/ first: answered from STATIC_ROOT without entering the fast paths or Django.
application = ProtocolTypeRouter({"http": static_application(http_app), "websocket": websocket_application()})
