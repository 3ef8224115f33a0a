"""Yahoo daily bars (yfinance `Ticker.history` output) as raw.traditional_ohlcv rows.

The index is tz-aware in the exchange's time zone; a bar is stored under its exchange trading date
(the local date), never the UTC date, so a session is never shifted by a day. `auto_adjust=False` keeps
the traded close (and `Adj Close` is dropped): a dividend adjustment would rescale history after the
fact and change stored returns.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import polars as pl
import requests
import yfinance as yf
from requests.adapters import HTTPAdapter
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError

from warehouse.schemas import RAW_TRADITIONAL_OHLCV

from .base import SourceError
from .calendars import nyse_trading_days

log = logging.getLogger(__name__)


def history_to_bars(history: pl.DataFrame, series: str, ticker: str) -> pl.DataFrame:
    """history: a Date/Datetime column with a UTC offset (as written by yfinance) and Open..Volume."""
    stamp = "Date" if "Date" in history.columns else "Datetime"
    local = pl.col(stamp).cast(pl.Utf8).str.slice(0, 10).str.to_date("%Y-%m-%d")
    return history.select(
        date=local,
        series=pl.lit(series),
        ticker=pl.lit(ticker),
        open=pl.col("Open").cast(pl.Float64),
        high=pl.col("High").cast(pl.Float64),
        low=pl.col("Low").cast(pl.Float64),
        close=pl.col("Close").cast(pl.Float64),
        volume=pl.col("Volume").cast(pl.Float64),
    ).sort("date").select(RAW_TRADITIONAL_OHLCV.column_names)


class _Redirect(HTTPAdapter):
    """Sends every https request to `base_url`, keeping path and query (a mirror, a proxy, a test server).
    The host asked for travels in X-Forwarded-Host."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request, **kwargs):
        moved = request.copy()
        parts = urlsplit(moved.url)
        moved.url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        moved.headers["X-Forwarded-Host"] = parts.netloc
        return super().send(moved, **kwargs)


class YahooSource:
    """Yahoo daily bars through yfinance, as a `TraditionalSource`.

    - `Ticker.history(start, end, auto_adjust=False)`: one chart request per ticker and run, for the
      run's days only (a backfill asks for its whole range at once; Yahoo returns daily history unpaged).
    - yfinance hides failures by default (a failed ticker becomes an empty frame); here
      `hide_exceptions` is off, so a failure raises. A rate limit (`YFRateLimitError`) is retried with
      backoff; any other failure, and a ticker that returns nothing over a range with NYSE trading days,
      is a `SourceError` naming the ticker and the range. A range with no trading day (a weekend, a US
      holiday) gives no rows and no error.
    - yfinance keeps process-wide state (one session and crumb, SQLite caches of time zones and
      cookies, and in memory the answers for ranges that ended over 30 minutes ago); the SQLite caches
      are put in `cache_dir` so a service account needs no home directory.
    """

    name = "yahoo"

    def __init__(self, tickers: dict[str, str], endpoint: str | None = None, max_retries: int = 5,
                 backoff_seconds: float = 1.0, timeout_seconds: float = 30.0, cache_dir: str | Path | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.tickers = dict(tickers)
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.timeout = timeout_seconds
        self.sleep = sleep
        self.session = requests.Session()
        if endpoint:
            self.session.mount("https://", _Redirect(endpoint))
        yf.config.debug.hide_exceptions = False
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            yf.set_tz_cache_location(str(cache_dir))

    def traditional_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = []
        for series, ticker in self.tickers.items():
            history = self._history(series, ticker, start, end)
            if history is None or history.empty:
                continue
            table = pl.DataFrame({
                "Date": list(history.index.strftime("%Y-%m-%d")),
                **{column: history[column].astype("float64").to_numpy() for column in ("Open", "High", "Low", "Close", "Volume")},
            })
            frames.append(history_to_bars(table, series, ticker))
        if not frames:
            return pl.DataFrame(schema=RAW_TRADITIONAL_OHLCV.polars_schema)
        bars = pl.concat(frames).filter((pl.col("date") >= start) & (pl.col("date") < end))
        return bars.sort(["date", "series"])

    def _history(self, series: str, ticker: str, start: dt.date, end: dt.date):
        span = f"{start}..{end - dt.timedelta(days=1)}" if end - start > dt.timedelta(days=1) else str(start)
        attempt = 0
        while True:
            try:
                with warnings.catch_warnings():
                    # yfinance 1.7 on pandas 3.1 warns about its own sort_index(inplace=True): noise in run logs.
                    warnings.filterwarnings("ignore", message="The inplace keyword")
                    return yf.Ticker(ticker, session=self.session).history(
                        start=start.isoformat(), end=end.isoformat(), interval="1d", auto_adjust=False,
                        actions=False, repair=False, timeout=self.timeout)
            except YFRateLimitError:
                if attempt >= self.max_retries:
                    raise SourceError(f"yahoo: {ticker} ({series}) for {span}: rate limited, "
                                      f"still after {attempt + 1} attempts") from None
                delay = min(self.backoff_seconds * 2**attempt, 60.0)
                log.warning("yahoo: %s for %s rate limited; retry %d/%d in %.1fs", ticker, span, attempt + 1,
                            self.max_retries, delay)
                self.sleep(delay)
                attempt += 1
            except YFPricesMissingError as exc:
                if not nyse_trading_days(start, end):
                    return None  # markets closed all range: nothing to fetch, nothing wrong
                raise SourceError(f"yahoo: {ticker} ({series}) returned no bars for {span}, which has NYSE "
                                  f"trading days: {exc}") from None
            except Exception as exc:  # yfinance raises HTTP, time-zone and parsing errors of many types
                raise SourceError(f"yahoo: {ticker} ({series}) for {span} failed: {type(exc).__name__}: "
                                  f"{str(exc)[:300]}") from None
