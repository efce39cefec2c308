from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from knox.models import AuthToken


class Command(BaseCommand):
    help = (
        "Print a new API token for a user (a bot), valid for --days (API_TOKEN_DAYS by default)."
        " Only its digest is stored: the token is shown this once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--days", type=int, default=settings.API_TOKEN_DAYS)

    def handle(self, *args, **options):
        if options["days"] < 1:
            raise CommandError("--days must be at least 1")
        try:
            user = get_user_model().objects.get_by_natural_key(options["username"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {options['username']!r}") from None
        instance, token = AuthToken.objects.create(user, expiry=timedelta(days=options["days"]))
        self.stderr.write(f"expires {instance.expiry:%Y-%m-%d %H:%M} UTC")
        self.stdout.write(token)
