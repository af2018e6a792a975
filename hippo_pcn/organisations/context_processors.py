from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from .selectors import user_has_staff_access


def staff_navigation(request: HttpRequest) -> dict[str, Any]:
    """The header navigation for signed-in staff."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user_has_staff_access(user=user):
        return {"staff_nav": []}
    path = request.path
    home = reverse("home")
    admin_index = reverse("admin:index")
    return {
        "staff_nav": [
            {"label": "Home", "href": home, "current": path == home},
            {"label": "Admin", "href": admin_index, "current": path.startswith(admin_index)},
        ]
    }
