"""Tidy records -> pandas, with pandas imported only when a table is asked for."""

from __future__ import annotations

from typing import Any


def dataframe(records: list[dict[str, Any]], what: str) -> Any:
    """``records`` as a pandas DataFrame; ``what`` names the caller in the error."""
    try:
        import pandas as pd
    except ImportError as e:
        raise ImportError(f"{what} needs pandas: pip install pandas") from e
    return pd.DataFrame(records)
