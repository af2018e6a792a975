from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from hippo_pcn.organisations.selectors import user_has_staff_access


class IsStaffMember(BasePermission):
    """Signed in (session or token), active, and a member of a practice or PCN, or
    support: the same people who may use the staff pages. What each of them sees
    is then decided by organisations_for_user, in each view's queryset."""

    message = (
        "Your account has no role in a practice or PCN yet. Ask your practice or PCN "
        "administrator to add you."
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        return user_has_staff_access(user=user)
