"""Accounts API: thin views over accounts.selectors, accounts.credentials (exchange
credentials), accounts.credential_check (checking them with the exchange) and
accounts.tokens (named API tokens).

JSON only: the browsable API would render a refused request's key and secret back into
its HTML form."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from accounts import credential_check, credentials, selectors, tokens
from accounts.api.serializers import (
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    CredentialCreateSerializer,
    CredentialSerializer,
    NewApiTokenSerializer,
)
from accounts.api.throttles import ConfiguredScopedRateThrottle
from accounts.models import ApiToken, ExchangeCredential
from central.api_errors import errors


class CanStoreCredentialsOrReadOnly(BasePermission):
    """Listing is for everyone signed in (their own); storing a key needs the analyst's
    `accounts.add_exchangecredential` (viewers keep no exchange keys)."""

    message = "You need the 'add exchange credential' permission to store exchange keys."

    def has_permission(self, request: Request, view) -> bool:
        return request.method in SAFE_METHODS or request.user.has_perm(
            "accounts.add_exchangecredential"
        )


CREDENTIAL_ID = OpenApiParameter(
    "id", int, OpenApiParameter.PATH, description="The credential's id."
)
TOKEN_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The token's id.")


class CredentialListView(generics.ListCreateAPIView):
    """Your exchange credentials (nobody else's, whatever their role); store a new one.
    The key and the secret are write-only: only the key's last four characters are shown."""

    renderer_classes = (JSONRenderer,)
    serializer_class = CredentialSerializer
    permission_classes = (IsAuthenticated, CanStoreCredentialsOrReadOnly)

    def get_queryset(self):
        return selectors.credentials_of(self.request.user)

    @extend_schema(
        request=CredentialCreateSerializer,
        responses={201: CredentialSerializer, **errors(400, 401, 403)},
        examples=[
            OpenApiExample(
                "A testnet key",
                request_only=True,
                value={
                    "exchange": "binance_testnet",
                    "label": "testnet",
                    "api_key": "<your API key>",
                    "api_secret": "<your API secret>",
                },
            ),
            OpenApiExample(
                "A key that is too long",
                status_codes=["400"],
                response_only=True,
                value={"api_key": ["api_key must be at most 128 characters"]},
            ),
        ],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        given = CredentialCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            credential = credentials.store_credential(
                request.user, request=request, **given.validated_data
            )
        except credentials.InvalidCredential as exc:
            raise ValidationError(exc.errors) from None
        return Response(CredentialSerializer(credential).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        parameters=[CREDENTIAL_ID], responses={200: CredentialSerializer, **errors(401, 404)}
    ),
    delete=extend_schema(parameters=[CREDENTIAL_ID], responses={204: None, **errors(401, 404)}),
)
class CredentialDetailView(generics.RetrieveDestroyAPIView):
    """One of your credentials, with its latest check; delete it. Another user's id
    answers 404."""

    renderer_classes = (JSONRenderer,)
    serializer_class = CredentialSerializer

    def get_queryset(self):
        return selectors.credentials_of(self.request.user)

    def perform_destroy(self, instance: ExchangeCredential) -> None:
        credentials.delete_credential(instance, actor=self.request.user, request=self.request)


class CredentialCheckView(generics.GenericAPIView):
    """Have a worker check one of your credentials with its exchange: answers at once
    with `check_status` "pending"; the outcome ("valid", "rejected" or "error", with
    `check_detail`) is then on the credential. Another user's id answers 404."""

    renderer_classes = (JSONRenderer,)
    serializer_class = CredentialSerializer
    # Each check costs request weight on the address market-data syncs share.
    throttle_scope = "credential_checks"

    def get_queryset(self):
        return selectors.credentials_of(self.request.user)

    def get_throttles(self):
        return [*super().get_throttles(), ConfiguredScopedRateThrottle()]

    @extend_schema(
        parameters=[CREDENTIAL_ID],
        request=None,
        responses={202: CredentialSerializer, **errors(401, 404)},
        examples=[
            OpenApiExample(
                "A check queued",
                status_codes=["202"],
                response_only=True,
                value={
                    "id": 3,
                    "exchange": "binance",
                    "label": "main",
                    "key_last_four": "h8A2",
                    "created_at": "2025-03-02T10:14:07.311Z",
                    "last_used_at": None,
                    "check_status": "pending",
                    "check_detail": "",
                    "checked_at": None,
                },
            ),
        ],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        credential = credential_check.request_check(self.get_object(), actor=request.user)
        location = reverse("credential-detail", args=[credential.pk], request=request)
        return Response(
            CredentialSerializer(credential).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


class TokenListView(generics.ListCreateAPIView):
    """Your working API tokens (nobody else's, whatever their role); create a new one.
    The full key is in the creation response only: store it then, it is not kept."""

    renderer_classes = (JSONRenderer,)
    serializer_class = ApiTokenSerializer
    # Creating tokens is limited harder than the rest of the API (the "tokens" rate).
    throttle_scope = "tokens"

    def get_queryset(self):
        return tokens.tokens_of(self.request.user)

    def get_throttles(self):
        throttles = super().get_throttles()
        if self.request.method == "POST":
            throttles.append(ConfiguredScopedRateThrottle())
        return throttles

    @extend_schema(
        request=ApiTokenCreateSerializer,
        responses={201: NewApiTokenSerializer, **errors(400, 401)},
        examples=[
            OpenApiExample("A token for a script", request_only=True, value={"name": "ci"}),
            OpenApiExample(
                "A name already in use",
                status_codes=["400"],
                response_only=True,
                value={"name": ["you already have a token with this name"]},
            ),
        ],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        given = ApiTokenCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            token, key = tokens.create_token(
                request.user, given.validated_data["name"], request=request
            )
        except tokens.InvalidToken as exc:
            raise ValidationError(exc.errors) from None
        token.key = key
        return Response(NewApiTokenSerializer(token).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[TOKEN_ID], responses={204: None, **errors(401, 404)})
class TokenDetailView(generics.DestroyAPIView):
    """Revoke one of your tokens: it stops working at once. Another user's id, or a
    token already revoked, answers 404."""

    renderer_classes = (JSONRenderer,)
    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        return tokens.tokens_of(self.request.user)

    def perform_destroy(self, instance: ApiToken) -> None:
        tokens.revoke_token(instance, actor=self.request.user, request=self.request)
