from django.db import migrations

DEFAULT_TYPES = [
    ("naming", "Namespaces, capabilities, sessions and name validation"),
    ("struct", "Scaffolds capability folders under the workspace root"),
    ("semantic", "Concept store with text similarity search"),
    ("manager", "Agent registry, heartbeats and process control"),
]


def load(apps, schema_editor):
    AgentType = apps.get_model("agents", "AgentType")
    for name, description in DEFAULT_TYPES:
        AgentType.objects.get_or_create(name=name, defaults={"description": description})


def unload(apps, schema_editor):
    apps.get_model("agents", "AgentType").objects.filter(name__in=[n for n, _ in DEFAULT_TYPES]).delete()


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
