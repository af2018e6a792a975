from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from hippo_pcn.accounts.middleware import second_factor_owed

from .selectors import user_has_staff_access


def staff_navigation(request: HttpRequest) -> dict[str, Any]:
    """The header navigation for signed-in staff: none while their second factor
    is still owed (every link would only lead back to the code page)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"staff_nav": [], "second_factor_owed": False}
    if second_factor_owed(request):
        return {"staff_nav": [], "second_factor_owed": True}
    if not user_has_staff_access(user=user):
        return {"staff_nav": [], "second_factor_owed": False}
    path = request.path
    home = reverse("home")
    admin_index = reverse("admin:index")
    return {
        "second_factor_owed": False,
        "staff_nav": [
            {"label": "Home", "href": home, "current": path == home},
            {"label": "Admin", "href": admin_index, "current": path.startswith(admin_index)},
        ],
    }
