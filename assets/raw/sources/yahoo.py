"""Yahoo daily bars (yfinance `Ticker.history` output) as raw.traditional_ohlcv rows.

The index is tz-aware in the exchange's time zone; a bar is stored under its exchange trading date
(the local date), never the UTC date, so a session is never shifted by a day. `auto_adjust=False` keeps
the traded close (and `Adj Close` is dropped): a dividend adjustment would rescale history after the
fact and change stored returns.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import polars as pl
import requests
import yfinance as yf
from requests.adapters import HTTPAdapter
from yfinance.data import YfData
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError, YFTzMissingError

from warehouse.schemas import RAW_TRADITIONAL_OHLCV

from .base import BadAnswer, IncompleteAnswer, SourceError
from .calendars import trading_days
from .retry import RetryPolicy, Transient, VenueBudget, call_with_retries, parse_retry_after

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


@dataclass(frozen=True)
class _Exchange:
    """One request yfinance made: the answer's status (None: no answer) or the transport error."""

    path: str
    status: int | None
    error: str | None = None
    retry_after: float | None = None
    body: str = ""  # its start, for messages
    parses: bool = True  # whether the whole body is JSON


class _RecordingSession(requests.Session):
    """yfinance turns most failures into "possibly delisted" or an empty frame; what Yahoo actually
    answered (a 503, a 401 Invalid Crumb, a timeout) is recorded here so a failure can be classified."""

    def __init__(self):
        super().__init__()
        self.exchanges: list[_Exchange] = []

    def request(self, method, url, *args, **kwargs):
        path = urlsplit(url).path
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            self.exchanges.append(_Exchange(path, None, type(exc).__name__))
            raise
        self.exchanges.append(_Exchange(path, response.status_code, None,
                                        parse_retry_after(response.headers.get("Retry-After")), response.text[:300],
                                        _is_json(response.text)))
        return response


class YahooSource:
    """Yahoo daily bars through yfinance, as a `TraditionalSource`.

    - `Ticker.history(start, end, auto_adjust=False)`: one chart request per ticker and run, for the
      run's days only (a backfill asks for its whole range at once; Yahoo returns daily history unpaged).
    - yfinance hides failures by default (a failed ticker becomes an empty frame); here
      `hide_exceptions` is off, and every request is recorded, so a failure is classified by what Yahoo
      answered: timeouts, connection errors, truncated bodies, 408/429/5xx and empty or short answers
      are asked again under `retry.call_with_retries` (Yahoo's own time budget per run); a 401
      "Invalid Crumb" gets a new cookie and crumb first. An unknown ticker (404) is refused at once.
    - An answer must reach the last session of the range on the series' own trading calendar
      (`calendars`: series -> calendar name): an empty or short answer is an `IncompleteAnswer`, never a partial frame. A range with no
      session (a weekend, a holiday) gives no rows and no error.
    - yfinance keeps process-wide state (one session and crumb, SQLite caches of time zones and
      cookies, and in memory the answers for ranges that ended over 30 minutes ago, failures included);
      the SQLite caches are put in `cache_dir` so a service account needs no home directory, and the
      in-memory answers are dropped before asking again.
    """

    name = "yahoo"

    def __init__(self, tickers: dict[str, str], calendars: dict[str, str], endpoint: str | None = None,
                 max_retries: int = 5, backoff_seconds: float = 1.0, timeout_seconds: float = 10.0,
                 venue_budget_seconds: float = 40.0, cache_dir: str | Path | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.tickers = dict(tickers)
        undeclared = sorted(set(self.tickers) - set(calendars))
        if undeclared:
            raise SourceError(f"yahoo: series {undeclared} have no trading calendar")
        self.calendars = dict(calendars)
        self.policy = RetryPolicy(retries=max_retries, backoff_seconds=backoff_seconds,
                                  timeout_seconds=timeout_seconds, venue_budget_seconds=venue_budget_seconds)
        self.budget = VenueBudget("yahoo", venue_budget_seconds)
        self.sleep = sleep
        self.session = _RecordingSession()
        if endpoint:
            self.session.mount("https://", _Redirect(endpoint))
        yf.config.debug.hide_exceptions = False
        yf.config.network.retries = 0  # one retry rule: ours (yfinance's own sleeps 2**n s per failure)
        if cache_dir is not None:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
            yf.set_tz_cache_location(str(cache_dir))

    def traditional_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = []
        for series, ticker in self.tickers.items():
            table = self._history(series, ticker, start, end)
            if table is not None:
                frames.append(history_to_bars(table, series, ticker))
        if not frames:
            return pl.DataFrame(schema=RAW_TRADITIONAL_OHLCV.polars_schema)
        bars = pl.concat(frames).filter((pl.col("date") >= start) & (pl.col("date") < end))
        return bars.sort(["date", "series"])

    def _history(self, series: str, ticker: str, start: dt.date, end: dt.date) -> pl.DataFrame | None:
        span = f"{start}..{end - dt.timedelta(days=1)}" if end - start > dt.timedelta(days=1) else str(start)
        sessions = trading_days(self.calendars[series], start, end)
        if not sessions:
            return None  # markets closed all range: nothing to fetch, nothing wrong
        what = f"yahoo: {ticker} ({series}) chart for {span}"

        def attempt(timeout: float) -> pl.DataFrame:
            self.session.exchanges.clear()
            try:
                with warnings.catch_warnings():
                    # yfinance 1.7 on pandas 3.1 warns about its own sort_index(inplace=True): noise in run logs.
                    warnings.filterwarnings("ignore", message="The inplace keyword")
                    history = yf.Ticker(ticker, session=self.session).history(
                        start=start.isoformat(), end=end.isoformat(), interval="1d", auto_adjust=False,
                        actions=False, repair=False, timeout=timeout)
            except (YFPricesMissingError, YFTzMissingError) as exc:
                if self._answered_not_found():
                    raise
                # Yahoo answered, but not with bars (an empty chart, or a failure yfinance hides behind
                # "possibly delisted"): what it answered decides below.
                if self._failure() is None:
                    raise IncompleteAnswer(f"{what}: the answer holds no bars, while the range has sessions "
                                           f"({sessions[0]}..{sessions[-1]})") from exc
                raise
            if history is None or history.empty:
                raise IncompleteAnswer(f"{what}: the answer holds no bars, while the range has sessions "
                                       f"({sessions[0]}..{sessions[-1]})")
            table = pl.DataFrame({
                "Date": list(history.index.strftime("%Y-%m-%d")),
                **{c: history[c].astype("float64").to_numpy() for c in ("Open", "High", "Low", "Close", "Volume")},
            })
            last = max(dt.date.fromisoformat(d) for d in table["Date"])
            if last < sessions[-1]:
                raise IncompleteAnswer(f"{what}: the answer stops at {last}, the range's last session is "
                                       f"{sessions[-1]}")
            return table

        return call_with_retries(attempt, what=what, policy=self.policy, budget=self.budget,
                                 classify=self._transient, describe=self._describe, sleep=self.sleep,
                                 before_retry=self._before_retry)

    def _answered_not_found(self) -> bool:
        chart = [e for e in self.session.exchanges if "/finance/chart/" in e.path]
        return bool(chart) and all(e.status == 404 for e in chart)

    def _failure(self) -> _Exchange | None:
        """The first request of this attempt that failed in a way worth asking again, if any."""
        for e in self.session.exchanges:
            if e.status is None or e.status in (408, 429) or e.status >= 500 or _invalid_crumb(e):
                return e
            if e.status == 200 and "/finance/chart/" in e.path and not e.parses:
                return e
        return None

    def _transient(self, exc: BaseException) -> Transient | None:
        if isinstance(exc, BadAnswer):
            return Transient("incomplete answer" if isinstance(exc, IncompleteAnswer) else "malformed answer")
        failed = self._failure()
        if failed is not None:
            if failed.status is None:
                return Transient("timeout" if "Timeout" in (failed.error or "") else failed.error or "no answer")
            if _invalid_crumb(failed):
                return Transient("HTTP 401 Invalid Crumb")
            if failed.status == 200:
                return Transient("truncated or malformed body")
            return Transient(f"HTTP {failed.status}", failed.retry_after)
        if isinstance(exc, (YFRateLimitError, requests.Timeout, requests.ConnectionError)):
            return Transient(type(exc).__name__)
        if isinstance(exc, ValueError) and "json" in type(exc).__name__.lower():
            return Transient("truncated or malformed body")
        return None

    def _before_retry(self, exc: BaseException, verdict: Transient) -> None:
        # A past range's answer, failure included, is kept in yfinance's memory: drop it, or the next
        # attempt never reaches Yahoo.
        YfData().cache_get.cache_clear()
        if verdict.reason.endswith("Invalid Crumb"):
            # Yahoo no longer accepts the crumb: forget cookie and crumb so yfinance fetches new ones.
            data = YfData(session=self.session)
            with data._cookie_lock:
                data._cookie, data._crumb = None, None
            self.session.cookies.clear()

    def _describe(self, exc: BaseException) -> str:
        failed = self._failure()
        text = f"{type(exc).__name__}: {str(exc)[:300]}"
        if failed is not None:
            answer = f"HTTP {failed.status}" if failed.status else failed.error
            text += f" (Yahoo answered {failed.path} with {answer}"
            text += f": {failed.body[:80]!r})" if failed.status and failed.status != 200 else ")"
        return text


def _invalid_crumb(e: _Exchange) -> bool:
    return e.status == 401 and "Invalid Crumb" in e.body


def _is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True
