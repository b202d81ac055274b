"""`GET/POST/DELETE /api/<resource>/{id}/shares/`: one view for every shareable resource.

An app adds the route with `shares_view(selector, "strategy")`, where `selector(user)` is
the resource's permission-aware queryset. Someone who cannot see the object gets 404;
someone who can see it but may not share it (`sharing.can_share`: its owner, operators
and admins may) gets 403.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import sharing
from central.api_errors import errors


class ShareSerializer(serializers.Serializer):
    grantee_type = serializers.ChoiceField(
        choices=sharing.GranteeType.values,
        default=sharing.GranteeType.USER.value,
        help_text="Share with a user or with a group (a role such as 'analyst', or a team).",
    )
    grantee = serializers.CharField(help_text="The user's username or the group's name.")
    permission = serializers.ChoiceField(
        choices=sharing.Level.values,
        default=sharing.Level.VIEW.value,
        help_text="'view' reads it; 'change' also edits it (runs: cancel and re-run).",
    )


class RevokeSerializer(serializers.Serializer):
    grantee_type = serializers.ChoiceField(
        choices=sharing.GranteeType.values, default=sharing.GranteeType.USER.value
    )
    grantee = serializers.CharField()


SHARE_EXAMPLE = OpenApiExample(
    "Let a colleague read it",
    value={"grantee_type": "user", "grantee": "bob", "permission": "view"},
)
GROUP_EXAMPLE = OpenApiExample(
    "Let a team change it",
    request_only=True,
    value={"grantee_type": "group", "grantee": "desk-a", "permission": "change"},
)
UNKNOWN_USER_EXAMPLE = OpenApiExample(
    "No such user",
    status_codes=["400"],
    response_only=True,
    value={"grantee": ["no user named 'bbo'"]},
)


def _share_data(item: sharing.Share) -> dict[str, str]:
    return ShareSerializer(item).data


class SharesView(APIView):
    permission_classes = (IsAuthenticated,)
    selector: Callable[..., QuerySet]

    def _shareable_object(self, request: Request, pk: int) -> Model:
        obj = get_object_or_404(type(self).selector(request.user), pk=pk)
        if not sharing.can_share(request.user, obj):
            raise PermissionDenied(
                f"Only the {obj._meta.verbose_name}'s owner, operators and admins share it."
            )
        return obj

    def get(self, request: Request, pk: int) -> Response:
        obj = self._shareable_object(request, pk)
        return Response([_share_data(item) for item in sharing.shares_of(obj)])

    def post(self, request: Request, pk: int) -> Response:
        obj = self._shareable_object(request, pk)
        data = ShareSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            item = sharing.share(obj, actor=request.user, request=request, **data.validated_data)
        except sharing.ShareError as exc:
            raise ValidationError(exc.errors) from None
        return Response(_share_data(item), status=status.HTTP_201_CREATED)

    def delete(self, request: Request, pk: int) -> Response:
        obj = self._shareable_object(request, pk)
        data = RevokeSerializer(data=request.query_params or request.data)
        data.is_valid(raise_exception=True)
        try:
            revoked = sharing.revoke(
                obj, actor=request.user, request=request, **data.validated_data
            )
        except sharing.ShareError as exc:
            raise ValidationError(exc.errors) from None
        if not revoked:
            raise ValidationError({"grantee": ["it is not shared with them"]})
        return Response(status=status.HTTP_204_NO_CONTENT)


def shares_view(selector: Callable[..., QuerySet], resource: str) -> Callable:
    """The shares endpoint of one resource, documented in the OpenAPI schema."""
    object_id = OpenApiParameter(
        "id", int, OpenApiParameter.PATH, description=f"The {resource}'s id."
    )

    class ResourceSharesView(SharesView):
        __doc__ = (
            f"Who a {resource} is shared with. Its owner, operators and admins list, grant "
            "and revoke shares; others who can see it get 403, everyone else 404."
        )

        @extend_schema(
            parameters=[object_id],
            responses={200: ShareSerializer(many=True), **errors(401, 403, 404)},
            examples=[SHARE_EXAMPLE],
        )
        def get(self, request: Request, pk: int) -> Response:
            return super().get(request, pk)

        @extend_schema(
            parameters=[object_id],
            request=ShareSerializer,
            responses={201: ShareSerializer, **errors(400, 401, 403, 404)},
            examples=[SHARE_EXAMPLE, GROUP_EXAMPLE, UNKNOWN_USER_EXAMPLE],
        )
        def post(self, request: Request, pk: int) -> Response:
            return super().post(request, pk)

        @extend_schema(
            parameters=[
                object_id,
                OpenApiParameter("grantee_type", str, enum=sharing.GranteeType.values),
                OpenApiParameter("grantee", str, required=True),
            ],
            request=None,
            responses={204: None, **errors(400, 401, 403, 404)},
        )
        def delete(self, request: Request, pk: int) -> Response:
            return super().delete(request, pk)

    ResourceSharesView.selector = staticmethod(selector)
    ResourceSharesView.__name__ = ResourceSharesView.__qualname__ = (
        f"{resource.title().replace(' ', '')}SharesView"
    )
    return ResourceSharesView.as_view()
