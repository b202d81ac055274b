from django.contrib import admin

from marketdata.models import CandleSeries, Symbol, SyncRun, WatchedSymbol


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin):
    list_display = ("name", "base_asset", "quote_asset", "is_active", "created_at")
    list_filter = ("is_active", "quote_asset")
    search_fields = ("name", "base_asset", "quote_asset")


@admin.register(CandleSeries)
class CandleSeriesAdmin(admin.ModelAdmin):
    list_display = ("symbol", "timeframe", "source", "first_timestamp", "last_timestamp",
                    "candle_count", "updated_at")
    list_filter = ("timeframe", "source")
    search_fields = ("symbol__name",)
    readonly_fields = ("first_timestamp", "last_timestamp", "candle_count", "updated_at")
