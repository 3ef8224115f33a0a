"""What differs between the crypto venues, in one place per venue.

Everything the ccxt source does is the same for every venue except what a `VenueProfile` says:
which market lists to load, how many rows one request may return, how the end of a funding window is
passed, and how a funding row's rate is read.

Quirks worth knowing (each handled here or in `funding_history`):
- Binance: USDT-margined contracts on fapi, coin-margined on dapi; dated futures deliver at 08:00 UTC,
  so the expiry day's candle covers 00:00-08:00 only. Funding intervals changed over time (8h, then 4h
  on some contracts); `fapi/v1/fundingInfo` declares the USD-M contracts whose interval is not 8h.
- Bybit: candles and funding come newest first; inverse candles carry the coin volume in `turnover`;
  each perpetual declares its funding interval (`fundingInterval`, minutes). Errors come as HTTP 200
  with a `retCode`; 10016 (server error) is one ccxt treats as a refusal.
- OKX: pages are bounded by `before`/`after` and come newest first; funding history has no unified
  `until`, so the window's end is passed as `after`. Funding intervals changed over time (8h, 4h, 1h)
  and the market list does not declare them.
- Deribit: funding accrues continuously; `get_funding_rate_history` has one row per hour carrying both
  `interest_1h` (settled that hour) and `interest_8h` (an 8h-equivalent rate). ccxt reports
  `interest_8h` as the funding rate; summing that over a day overstates funding eightfold, so the rate
  of each hourly row is `interest_1h`. Deribit has no mark-price candles.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Callable

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _rate_from_unified(row: dict) -> float | None:
    return row.get("fundingRate")


def _deribit_rate(row: dict) -> float | None:
    value = (row.get("info") or {}).get("interest_1h")
    return None if value is None else float(value)


def _no_declared_hours(market: dict) -> float | None:
    return None


def _bybit_declared_hours(market: dict) -> float | None:
    minutes = (market.get("info") or {}).get("fundingInterval")
    try:
        return float(minutes) / 60 if minutes not in (None, "", "0", 0) else None
    except (TypeError, ValueError):
        return None


def _hourly(market: dict) -> float | None:
    return 1.0


def _error_code(*path: str) -> Callable[[str], str | None]:
    """Reads a venue's own error code from the body of an answer (None when there is none)."""

    def read(body: str) -> str | None:
        try:
            value = json.loads(body)
            for key in path:
                value = value[key]
        except (ValueError, TypeError, KeyError):
            return None
        return None if value is None else str(value)

    return read


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
    # The funding interval a perpetual's market entry declares (None: not declared), and whether the
    # venue has a separate declaration endpoint (Binance `fundingInfo`).
    declared_funding_hours: Callable[[dict], float | None] = _no_declared_hours
    funding_info: bool = False
    # The longest interval the venue settles at: caps an interval read from a gap (a missing settlement
    # is not a 16h interval) and bounds how early a funding answer may stop before its window's end.
    usual_funding_hours: float = 8.0
    has_mark_candles: bool = True
    delivery_hour_utc: int = 8
    # Market lists served separately (ccxt types spot/swap/future, or linear/inverse contracts): each
    # must come back non-empty from load_markets.
    market_lists: tuple[str, ...] = ("spot", "linear", "inverse")
    # The venue's own codes for "try again" (server busy, internal error, rate limit), in its error body.
    error_code: Callable[[str], str | None] = _error_code("code")
    transient_codes: frozenset[str] = frozenset()

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
        funding_info=True,
        # -1000 unknown, -1001 internal error, -1003 too many requests, -1006/-1007 backend timeout or
        # unexpected answer, -1008 server busy (Binance spot and derivatives error codes).
        transient_codes=frozenset({"-1000", "-1001", "-1003", "-1006", "-1007", "-1008"}),
    ),
    "bybit": VenueProfile(
        "bybit",
        options={"fetchCurrencies": False, "fetchMarkets": {"types": ["spot", "linear", "inverse"]}},
        candles_per_page=1000,
        funding_per_page=200,
        declared_funding_hours=_bybit_declared_hours,
        error_code=_error_code("retCode"),
        # 10000 server timeout, 10006 too many visits, 10016 server error, 10429 system frequency protection.
        transient_codes=frozenset({"10000", "10006", "10016", "10429"}),
    ),
    "okx": VenueProfile(
        "okx",
        options={"fetchCurrencies": False, "fetchMarkets": {"types": ["spot", "swap", "future"]}},
        candles_per_page=100,
        funding_per_page=100,
        funding_until_param="after",
        market_lists=("spot", "swap", "future"),
        # 50001 service unavailable, 50004 endpoint timeout, 50011 rate limit, 50013 busy, 50026 system error.
        transient_codes=frozenset({"50001", "50004", "50011", "50013", "50026"}),
    ),
    "deribit": VenueProfile(
        "deribit",
        options={"fetchCurrencies": False},
        candles_per_page=1000,
        funding_per_page=744,
        settlements_per_day=24,
        funding_rate=_deribit_rate,
        declared_funding_hours=_hourly,
        usual_funding_hours=1.0,
        has_mark_candles=False,
        market_lists=("swap", "future"),
        error_code=_error_code("error", "code"),
        # 10028 too_many_requests, 10040 retry, 10041 settlement_in_progress, 11051 system_maintenance,
        # 13028 temporarily_unavailable, 13888 timed_out.
        transient_codes=frozenset({"10028", "10040", "10041", "11051", "13028", "13888"}),
    ),
}


def lists_spot(venue: str) -> bool:
    """Whether the venue has a spot market (Deribit lists derivatives only); sample venues have one."""
    profile = PROFILES.get(venue)
    return profile is None or "spot" in profile.market_lists
