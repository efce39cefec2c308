import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create (or reset) the demo login, an admin, with a fresh password and an API token."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--host", default="http://127.0.0.1:8000")

    def handle(self, *args, **options):
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=options["username"])
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        token, _ = Token.objects.get_or_create(user=user)
        host = options["host"]
        self.stdout.write(
            f"\n  Dashboard  {host}/\n"
            f"  Log in as  {user.username} / {password}   (admin: {host}/admin/)\n"
            f"  API token  {token.key}\n"
            f'  Try        curl -H "Authorization: Token {token.key}" '
            f'"{host}/api/v1/trading/signals?symbol=BTCUSDT"\n'
        )
