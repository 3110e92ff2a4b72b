"""URLconf of the socket processes (DJANGO_WEB_APPS=0): they serve no HTTP.

Django's system checks load ROOT_URLCONF at every management command's start;
the site's real urls.py would import the admin, DRF and every view, which is
exactly what a lean orchestrator or agent process leaves out.
"""

urlpatterns: list = []
