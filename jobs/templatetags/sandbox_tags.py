"""``{% sandbox_status as sandbox %}``: this node's sandbox mode, for the admin index."""

from django import template

from jobs import sandbox

register = template.Library()


@register.simple_tag
def sandbox_status():
    return sandbox.status()
