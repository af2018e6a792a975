from django.urls import path

from . import views

urlpatterns = [
    path("security/", views.account_security, name="account_security"),
    path("security/code/", views.mfa_verify, name="mfa_verify"),
    path("security/set-up/", views.mfa_setup, name="mfa_setup"),
    path("security/recovery-codes/", views.recovery_codes, name="mfa_recovery_codes"),
]
