"""What differs between the crypto venues, in one place per venue.

Everything the ccxt source does is the same for every venue except what a `VenueProfile` says:
which market lists to load, how many rows one request may return, how the end of a funding window is
passed, and how a funding row's rate is read.

Quirks worth knowing (each handled here or in `funding_history`):
- Binance: USDT-margined contracts on fapi, coin-margined on dapi; dated futures deliver at 08:00 UTC,
  so the expiry day's candle covers 00:00-08:00 only. Funding intervals changed over time (8h, then 4h
  on some contracts): the interval is read from the spacing of settlements, never assumed.
- Bybit: candles and funding come newest first; inverse candles carry the coin volume in `turnover`.
- OKX: pages are bounded by `before`/`after` and come newest first; funding history has no unified
  `until`, so the window's end is passed as `after`. Funding intervals changed over time (8h, 4h, 1h).
- Deribit: funding accrues continuously; `get_funding_rate_history` has one row per hour carrying both
  `interest_1h` (settled that hour) and `interest_8h` (an 8h-equivalent rate). ccxt reports
  `interest_8h` as the funding rate; summing that over a day overstates funding eightfold, so the rate
  of each hourly row is `interest_1h`. Deribit has no mark-price candles.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

DAY_MS = 86_400_000


def _rate_from_unified(row: dict) -> float | None:
    return row.get("fundingRate")


def _deribit_rate(row: dict) -> float | None:
    value = (row.get("info") or {}).get("interest_1h")
    return None if value is None else float(value)


@dataclass(frozen=True)
class VenueProfile:
    venue: str
    # ccxt constructor options: load only the market lists the warehouse uses (no options, no
    # currencies: those calls need keys on some venues and cost requests).
    options: dict = field(default_factory=dict)
    # Rows one request may return (we always ask for this many and bound both ends of the window).
    candles_per_page: int = 500
    funding_per_page: int = 100
    # Settlements per day we expect; sizes funding windows so a page is rarely full. A full page
    # is split in two and asked again, so a venue that settles more often is still read whole.
    settlements_per_day: int = 3
    # How the end of a funding window is passed: ccxt's unified `until`, or a venue parameter.
    funding_until_param: str = "until"
    funding_rate: Callable[[dict], float | None] = _rate_from_unified
    # Hours each funding row covers when the venue states it (Deribit: hourly rows); None: from spacing.
    funding_interval_hours: float | None = None
    has_mark_candles: bool = True
    delivery_hour_utc: int = 8

    def funding_until(self, end_ms: int) -> dict:
        return {self.funding_until_param: end_ms - 1}

    def candle_window_days(self) -> int:
        return max(self.candles_per_page - 1, 1)

    def funding_window(self) -> dt.timedelta:
        return dt.timedelta(days=max(self.funding_per_page // (self.settlements_per_day * 2), 1))


PROFILES: dict[str, VenueProfile] = {
    "binance": VenueProfile(
        "binance",
        # fetchMargins off: with keys set, ccxt would also call signed margin endpoints to load markets.
        options={"fetchCurrencies": False, "fetchMargins": False,
                 "fetchMarkets": {"types": ["spot", "linear", "inverse"]}},
        candles_per_page=1000,
        funding_per_page=1000,
    ),
    "bybit": VenueProfile(
        "bybit",
        options={"fetchCurrencies": False, "fetchMarkets": {"types": ["spot", "linear", "inverse"]}},
        candles_per_page=1000,
        funding_per_page=200,
    ),
    "okx": VenueProfile(
        "okx",
        options={"fetchCurrencies": False, "fetchMarkets": {"types": ["spot", "swap", "future"]}},
        candles_per_page=100,
        funding_per_page=100,
        funding_until_param="after",
    ),
    "deribit": VenueProfile(
        "deribit",
        options={"fetchCurrencies": False},
        candles_per_page=1000,
        funding_per_page=744,
        settlements_per_day=24,
        funding_rate=_deribit_rate,
        funding_interval_hours=1.0,
        has_mark_candles=False,
    ),
}
