"""Transaction importers: a file (or a page of the exchange's trade list) into `Fills`,
validated and normalised, with every bad row named by line and field.

- `table.py` reads CSV bytes into columns, keeping each row's line number;
- `detect.py` recognises the format from the header;
- `binance_trades.py` (Binance's spot trade-history export), `generic.py` (any CSV with a
  column mapping) and `binance_api.py` (the account trade list) turn rows into fills;
- `fills.py` holds the result and `checks.py` the rejected rows.

Nothing here touches the database: `replay.imports` stores what these return.
"""
