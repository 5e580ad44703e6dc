from rest_framework import serializers


class RejectedRowSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        help_text="Index of the row: in the JSON array, or among the CSV's data rows; from 0."
    )
    line = serializers.IntegerField(required=False, help_text="CSV only: the line of the file the row ends on.")
    errors = serializers.DictField(
        child=serializers.CharField(), help_text='Reason per attribute; "_row" for a problem with the whole row.'
    )


class LoadResultSerializer(serializers.Serializer):
    inserted = serializers.IntegerField()
    rejected = RejectedRowSerializer(many=True, help_text="The first AE_MAX_REPORTED_REJECTIONS rejected rows.")
    rejected_count = serializers.IntegerField(help_text="All rejected rows, reported or not.")
