from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("agents", "0002_default_agent_types")]

    operations = [
        migrations.AddField(
            model_name="agenttype",
            name="token_hash",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="agenttype",
            name="token_rotated_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
