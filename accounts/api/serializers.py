"""Exchange-credential API shapes. A key or secret goes in; it never comes out."""

from rest_framework import serializers

from accounts.models import Exchange, ExchangeCredential


class CredentialSerializer(serializers.ModelSerializer):
    """What is shown of a stored credential: never its key or its secret."""

    class Meta:
        model = ExchangeCredential
        fields = ("id", "exchange", "label", "key_last_four", "created_at", "last_used_at")
        read_only_fields = fields


class CredentialCreateSerializer(serializers.Serializer):
    """The rules (lengths, characters, a label unique to you) are checked by
    accounts.credentials.store_credential, whose messages never repeat a key or secret."""

    exchange = serializers.ChoiceField(choices=Exchange.choices)
    label = serializers.CharField(allow_blank=True, help_text="Your name for it, unique to you.")
    api_key = serializers.CharField(
        write_only=True, allow_blank=True, trim_whitespace=False, style={"input_type": "password"}
    )
    api_secret = serializers.CharField(
        write_only=True, allow_blank=True, trim_whitespace=False, style={"input_type": "password"}
    )
