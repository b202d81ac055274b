from rest_framework.permissions import BasePermission

from marketdata.selectors import can_import_candles, can_sync_market_data


class CanImportCandles(BasePermission):
    message = "You need the 'import candles' permission."

    def has_permission(self, request, view) -> bool:
        return can_import_candles(request.user)


class CanSyncMarketData(BasePermission):
    message = "Only operators may run market-data syncs."

    def has_permission(self, request, view) -> bool:
        return can_sync_market_data(request.user)
