"""API fixtures: tokens made the way a user makes them on the sign-in security page,
and API clients that send them.

    secret = make_api_token(user, name="Rota sync", days=30)   # the token, shown once
    client = api_client_for(user)                                # token auth, JSON by default
    client.get("/api/v1/...")

`make_api_token` returns the secret (a str) to put after "Bearer "; the stored row is
`ApiToken.objects.get(user=user, name=name)`. `api_client_for(user)` makes a new token
(30 days) for each client."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from hippo_pcn.api.services import api_token_create


@pytest.fixture
def make_api_token(db):
    def make(user, name: str = "Test token", days: int = 30) -> str:
        return api_token_create(user=user, name=name, days=days).secret

    return make


@pytest.fixture
def api_client_for(make_api_token):
    def make(user, *, name: str = "Test client") -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_token(user, name, 30)}")
        return client

    return make
