"""Candle file importers: parse a file into a CandleBatch, reporting every bad row."""
