from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Staff sign-in: lockout after repeated failures (django-axes) and the second
    factor (django-otp: an authenticator app plus one-time recovery codes)."""

    name = "hippo_pcn.accounts"
    label = "accounts"
    verbose_name = "Sign-in security"
