import hmac

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from hippo_pcn.organisations.selectors import user_is_support

from .checks import run_checks


def may_see_details(request: HttpRequest) -> bool:
    """The checks name ODS codes and connection ids: only support (signed in) and a
    monitor holding HEALTHZ_TOKEN ("Authorization: Bearer <token>") see them."""
    if user_is_support(user=request.user):
        return True
    expected = settings.HEALTHZ_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    healthy = all(result["ok"] for result in checks.values())
    body: dict[str, object] = {"status": "ok" if healthy else "fail"}
    if may_see_details(request):
        body["checks"] = checks
    return JsonResponse(body, status=200 if healthy else 503)
