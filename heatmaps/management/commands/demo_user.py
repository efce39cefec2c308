import secrets

from axes.utils import reset as reset_lockouts
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from knox.models import AuthToken


class Command(BaseCommand):
    help = "Create (or reset) the demo login, an admin, with a fresh password and a new API token."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--host", default="http://127.0.0.1:8000")

    def handle(self, *args, **options):
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=options["username"])
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        reset_lockouts(username=user.username)  # a fresh password starts with a clean slate
        # a new token each run: only digests are stored, so an old one cannot be shown again
        _, token = AuthToken.objects.create(user)
        host = options["host"]
        self.stdout.write(
            f"\n  Dashboard  {host}/\n"
            f"  Log in as  {user.username} / {password}   (admin: {host}/admin/)\n"
            f"  API token  {token}\n"
            f'  Try        curl -H "Authorization: Token {token}" '
            f'"{host}/api/v1/trading/signals?symbol=BTCUSDT"\n'
        )
