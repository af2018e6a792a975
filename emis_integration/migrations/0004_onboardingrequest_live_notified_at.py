from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("emis_integration", "0003_emisconnection_sign_jwt"),
    ]

    operations = [
        migrations.AddField(
            model_name="onboardingrequest",
            name="live_notified_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
