from django.contrib.admin.apps import AdminConfig


class HippoAdminConfig(AdminConfig):
    """Replaces Django's default admin site with hippo-pcn's tenancy-aware one."""

    default_site = "hippo_pcn.admin_site.HippoAdminSite"
