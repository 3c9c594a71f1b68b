"""Management commands of the portal show their defaults in ``--help``."""

from django.core.management.base import BaseCommand, DjangoHelpFormatter


class HelpWithDefaults(DjangoHelpFormatter):
    """Django's layout (its own options last), with an option's default after its help unless
    the help already speaks of it or there is none worth showing (None, False)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.default not in (None, False) and "default" not in text
                and action.option_strings and action.default != "==SUPPRESS=="):
            text += " (default: %(default)s)"
        return text


class PortalCommand(BaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("formatter_class", HelpWithDefaults)
        return super().create_parser(prog_name, subcommand, **kwargs)
