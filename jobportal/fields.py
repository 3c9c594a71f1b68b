"""Serializer fields that take client input literally.

DRF's ``CharField`` turns ``123`` into ``"123"`` and its ``JSONField`` decodes a form value
with no limit on nesting; these do neither.
"""

from rest_framework import serializers

from jobportal import untrusted


class StrictCharField(serializers.CharField):
    """A CharField that accepts strings only: ``"script": 123`` is a 400, not ``"123"``."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class JSONField(serializers.JSONField):
    """A JSONField whose value, sent as JSON or as a form field's JSON text, is checked like a
    request body (:mod:`jobportal.untrusted`): nesting, NUL characters, finite numbers."""

    def to_internal_value(self, data):
        try:
            if getattr(data, "is_json_string", False) and not self.binary:
                return untrusted.loads(str(data))
            value = super().to_internal_value(data)
            untrusted.check(value)
        except untrusted.UntrustedJSONError as exc:
            raise serializers.ValidationError(exc.describe([self.field_name])) from exc
        except ValueError:
            self.fail("invalid")
        return value
