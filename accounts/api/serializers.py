"""Accounts API shapes. An exchange key or secret goes in and never comes out; an API
token's key comes out once, when the token is created."""

from rest_framework import serializers

from accounts.models import ApiToken, Exchange, ExchangeCredential


class CredentialSerializer(serializers.ModelSerializer):
    """What is shown of a stored credential: never its key or its secret. The check_*
    fields are the latest check with the exchange (POST /api/credentials/{id}/check/)."""

    class Meta:
        model = ExchangeCredential
        fields = (
            "id",
            "exchange",
            "label",
            "key_last_four",
            "created_at",
            "last_used_at",
            "check_status",
            "check_detail",
            "checked_at",
        )
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


class ApiTokenSerializer(serializers.ModelSerializer):
    """What is shown of a token: its name and the key's first characters, never the key."""

    class Meta:
        model = ApiToken
        fields = ("id", "name", "prefix", "created_at", "last_used_at")
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    """The rules (length, a name unique among your working tokens) are checked by
    accounts.tokens.create_token."""

    name = serializers.CharField(allow_blank=True, help_text="Your name for it, unique to you.")


class NewApiTokenSerializer(ApiTokenSerializer):
    """A token just created, with its full key: shown this once and never again."""

    key = serializers.CharField(
        read_only=True, help_text="Send as `Authorization: Token <key>`. Shown only once."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = (*ApiTokenSerializer.Meta.fields, "key")
        read_only_fields = fields
