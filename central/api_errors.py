"""How API errors look, for the OpenAPI schema of every app's endpoints."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})
FIELD_ERRORS = inline_serializer(
    "FieldErrors",
    {"field_name": serializers.ListField(child=serializers.CharField())},
)

NOT_SIGNED_IN = OpenApiResponse(ERROR, description="No or invalid credentials.")
FORBIDDEN = OpenApiResponse(ERROR, description="Signed in, but not allowed.")
NOT_FOUND = OpenApiResponse(ERROR, description="No such object.")
INVALID = OpenApiResponse(
    FIELD_ERRORS,
    description="Invalid input: each key names a parameter or field, with its messages.",
)


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema responses for the given error status codes."""
    known = {400: INVALID, 401: NOT_SIGNED_IN, 403: FORBIDDEN, 404: NOT_FOUND}
    return {code: known[code] for code in codes}


class Conflict(APIException):
    """409: the object's state does not allow it (e.g. cancelling a finished run)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the object's current state."
    default_code = "conflict"
