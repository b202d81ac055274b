from rest_framework import serializers

from audit.models import SecurityEvent


class SecurityEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = SecurityEvent
        fields = (
            "id",
            "created_at",
            "action",
            "actor",
            "actor_username",
            "target_type",
            "target_id",
            "target_repr",
            "ip",
            "user_agent",
            "detail",
        )
        read_only_fields = fields
