from rest_framework import serializers


class ClientAccessSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()
    is_default = serializers.BooleanField()
    permissions = serializers.SerializerMethodField()

    def get_permissions(self, access) -> list[str]:
        return sorted(access["permissions"] if isinstance(access, dict) else access.permissions)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField()
    is_staff = serializers.BooleanField()
    client = ClientAccessSerializer(allow_null=True)
    clients = ClientAccessSerializer(many=True)
