"""Errors raised by imports; every one names the row, field or parameter at fault."""

from marketdata.importers.batch import RowError


class ImportRejected(Exception):
    """The file has bad rows and the import was all-or-nothing: nothing was written."""

    def __init__(self, errors: list[RowError], total_rows: int):
        self.errors = errors
        self.total_rows = total_rows
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(
            f"{len(errors)} of {total_rows} rows are invalid, nothing was imported: {shown}{more}"
        )


class ImportFileError(ValueError):
    """The file as a whole cannot be read (format, encoding, compression, header)."""
