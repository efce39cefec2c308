"""API tokens (django-rest-knox): only a digest is stored, each expires, a user may hold
several, and the admin lists them without their secret."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from knox.models import AuthToken

pytestmark = pytest.mark.django_db


def health(client, token: str) -> int:
    return client.get("/api/v1/health", HTTP_AUTHORIZATION=f"Token {token}").status_code


def test_the_database_holds_a_digest_never_the_token(bot_token):
    row = AuthToken.objects.values().get()
    assert bot_token not in str(row)
    assert len(row["digest"]) == 128  # SHA-512, hex


def test_a_user_may_hold_several_tokens_and_lose_one(client, django_user_model):
    bot = django_user_model.objects.create_user("bot")
    (first, first_key), (_, second_key) = (
        AuthToken.objects.create(bot),
        AuthToken.objects.create(bot),
    )
    assert health(client, first_key) == 200 and health(client, second_key) == 200
    first.delete()  # revoked, e.g. in the admin
    assert health(client, first_key) == 401 and health(client, second_key) == 200


def test_an_expired_token_gets_401(client, django_user_model):
    instance, key = AuthToken.objects.create(django_user_model.objects.create_user("bot"))
    AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert health(client, key) == 401


def test_create_token_prints_only_the_token_and_it_expires_after_the_days_asked(
    client, django_user_model, capsys
):
    django_user_model.objects.create_user("newbot")
    call_command("create_token", "newbot", "--days", "7")
    out = capsys.readouterr()
    key = out.out.strip()
    assert health(client, key) == 200
    expiry = AuthToken.objects.get(user__username="newbot").expiry
    assert abs(expiry - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert "expires" in out.err


def test_tokens_expire_after_api_token_days_unless_told(django_user_model, capsys):
    from django.conf import settings

    django_user_model.objects.create_user("newbot")
    call_command("create_token", "newbot")
    expiry = AuthToken.objects.get().expiry
    days = timedelta(days=settings.API_TOKEN_DAYS)
    assert abs(expiry - (timezone.now() + days)) < timedelta(minutes=1)


def test_create_token_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("create_token", "ghost")


def test_the_admin_lists_tokens_without_their_secret(clients, bot_token):
    page = clients["staff"].get("/admin/knox/authtoken/")
    assert page.status_code == 200
    assert b"nautilus" in page.content and bot_token.encode() not in page.content


def test_drf_plain_tokens_are_gone():
    from django.apps import apps

    assert not apps.is_installed("rest_framework.authtoken")
