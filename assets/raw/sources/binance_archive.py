"""Binance's public data archive (data.binance.vision) as a `CryptoSource`: expired quarterlies included.

Where the files come from: a local folder holding the archive's `data/` tree (what Binance's download
script writes) or the base URL of the archive or a mirror. Downloaded files are kept in `cache_dir` under
the same paths, so a rerun downloads nothing; a monthly file the archive does not have is remembered too
(`<file>.absent`) once the month is long over.

Files read (interval 1d), per coin:
- USD-M (`um`) and COIN-M (`cm`) perpetuals `BTCUSDT` / `BTCUSD_PERP`: `klines` (last) and
  `markPriceKlines` (mark); funding from `fundingRate`.
- Quarterlies `BTCUSDT_230630` / `BTCUSD_230630`, their names derived from the expiry schedule (last Friday
  of Mar/Jun/Sep/Dec, 08:00 UTC): `klines`. A contract is looked for from 200 days before its expiry; a
  month file the archive lacks means the contract did not trade that month (counted as missing, no error).
- Spot, one series per coin as the live source has: `spot="spot"` reads the spot archive
  (`data/spot/.../BTCUSDT`, symbol BTC/USDT, price_type last, the same row the live source stores);
  `spot="index"` reads the USD-M index price klines of the pair instead (symbol BTC/USDT, price_type index).
- Monthly files `{SYMBOL}-1d-{YYYY}-{MM}.zip`; the archive publishes a month after it ends, so the
  current month and the one before fall back to daily files `{SYMBOL}-1d-{YYYY-MM-DD}.zip`.

Quirks handled: each zip's `.zip.CHECKSUM` (sha256) is verified and a mismatch is refused naming the
file; CSVs come with or without a header row (a first character that is a digit means no header); COIN-M
klines carry contracts in column 5 and the coin volume in column 7; spot files since 2025 use
microsecond timestamps; some monthly delivery files carry rows after the contract's expiry, which are
dropped; funding times carry millisecond jitter (`1667404800019`) and rates may be written in scientific
notation (`2.1E-7`). A local folder may hold a CSV unzipped beside where its zip would be.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import os
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import polars as pl

from warehouse.schemas import RAW_CRYPTO_OHLCV, RAW_FUNDING

from .base import SourceError
from .calendars import QUARTERLY_MONTHS, quarterly_expiry
from .funding_history import normalize_settlements
from .retry import RetryPolicy, Transient, VenueBudget, call_with_retries, parse_retry_after
from .routed import HistoryStats, ReconstructedInstrument, concat_frames, snapshots_from_bars

VENUE = "binance"
NAME = "binance_archive"  # one name for the source: settings routes, progress, summaries, messages
DAY_MS = 86_400_000
# A quarterly trades for about two quarters before its expiry (as NEXT_QUARTER, then CURRENT_QUARTER).
CONTRACT_LIFE_DAYS = 200
MARGINS = ("um", "cm")


# ------------------------------------------------------------------------------------ Binance names
@dataclass(frozen=True)
class BinanceContract:
    """One Binance instrument: how the venue names it and what the warehouse stores about it."""

    margin: str  # um (USD-M, linear) | cm (COIN-M, inverse) | spot
    coin: str
    kind: str  # spot | perp | future
    expiry: dt.datetime | None = None  # naive UTC

    @property
    def pair(self) -> str:
        return f"{self.coin}{'USD' if self.margin == 'cm' else 'USDT'}"

    @property
    def venue_id(self) -> str:
        if self.kind == "future":
            return f"{self.pair}_{self.expiry:%y%m%d}"
        return f"{self.pair}_PERP" if self.margin == "cm" else self.pair

    @property
    def quote(self) -> str:
        return "USD" if self.margin == "cm" else "USDT"

    @property
    def settle(self) -> str | None:
        return None if self.kind == "spot" else (self.coin if self.margin == "cm" else "USDT")

    @property
    def symbol(self) -> str:
        """ccxt's unified symbol: BTC/USDT, BTC/USDT:USDT, BTC/USDT:USDT-230630, BTC/USD:BTC-230630."""
        base = f"{self.coin}/{self.quote}"
        if self.kind == "spot":
            return base
        return f"{base}:{self.settle}" + (f"-{self.expiry:%y%m%d}" if self.kind == "future" else "")

    @property
    def contract_size(self) -> float | None:
        """ccxt's contractSize: 1 coin on USD-M, 100 USD (BTC) or 10 USD (others) on COIN-M."""
        if self.kind == "spot":
            return None
        if self.margin == "um":
            return 1.0
        return 100.0 if self.coin == "BTC" else 10.0

    def instrument(self) -> ReconstructedInstrument:
        contract = self.kind != "spot"
        return ReconstructedInstrument(
            venue=VENUE, symbol=self.symbol, underlying=self.coin, kind=self.kind, quote=self.quote,
            settle=self.settle, linear=(self.margin == "um") if contract else None,
            inverse=(self.margin == "cm") if contract else None, contract_size=self.contract_size,
            expiry_ts=self.expiry,
        )

    def expiry_ms(self) -> int | None:
        return None if self.expiry is None else _ms(self.expiry)


def quarterly_expiries_between(start: dt.date, end: dt.date) -> list[dt.datetime]:
    """Expiries of the quarterlies of the schedule that may trade on some day of [start, end)."""
    found = []
    year, month = start.year, QUARTERLY_MONTHS[(start.month - 1) // 3]
    while True:
        expiry = quarterly_expiry(year, month)
        if expiry.date() - dt.timedelta(days=CONTRACT_LIFE_DAYS) >= end:
            return found
        if expiry.date() >= start:
            found.append(expiry)
        year, month = (year + 1, 3) if month == 12 else (year, month + 3)


def quarterlies(margin: str, coin: str, start: dt.date, end: dt.date) -> list[BinanceContract]:
    """The quarterly contracts of a family that may trade on some day of [start, end)."""
    return [BinanceContract(margin, coin, "future", e) for e in quarterly_expiries_between(start, end)]


def contract_life(contract: BinanceContract, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
    """The part of [start, end) on which a contract may have candles."""
    if contract.expiry is None:
        return start, end
    first = max(start, contract.expiry.date() - dt.timedelta(days=CONTRACT_LIFE_DAYS))
    stop = min(end, contract.expiry.date() + dt.timedelta(days=1))
    return (first, stop) if first < stop else None


# ------------------------------------------------------------------------------------- CSV parsing
def _has_header(data: bytes) -> bool:
    first = data.lstrip()[:1]
    return not first.isdigit()


def _rows(data: bytes, where: str) -> list[list[str]]:
    text = data.decode("utf-8-sig", errors="strict") if data else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and _has_header(lines[0].encode()):
        lines = lines[1:]
    rows = [line.split(",") for line in lines]
    return rows


def _number(value: str, where: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SourceError(f"{NAME}: {where}: {what} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise SourceError(f"{NAME}: {where}: {what} is not finite: {value!r}")
    return number


def _epoch_ms(value: str, where: str) -> int:
    stamp = int(_number(value, where, "timestamp"))
    # Spot files since 2025 count microseconds.
    return stamp // 1000 if stamp >= 10**14 else stamp


def parse_klines(data: bytes, where: str, contract: BinanceContract, price_type: str) -> pl.DataFrame:
    """raw.crypto_ohlcv rows of one kline CSV (12 columns, with or without a header row).

    Volume is in coins: column 5 on USD-M and spot, column 7 on COIN-M (column 5 counts contracts);
    mark and index candles have none. Rows opening at or after the contract's expiry are dropped."""
    out = []
    expiry_ms = contract.expiry_ms()
    for number, row in enumerate(_rows(data, where), start=1):
        if len(row) < 8:
            raise SourceError(f"{NAME}: {where}: row {number} of {contract.venue_id} has {len(row)} "
                              "columns, expected 12 (open time, open, high, low, close, volume, ...)")
        opened = _epoch_ms(row[0], where)
        day = _day(opened)
        if opened % DAY_MS:
            raise SourceError(f"{NAME}: {where}: {contract.venue_id} candle of {day} does not open at "
                              f"00:00 UTC ({row[0]})")
        if expiry_ms is not None and opened >= expiry_ms:
            continue
        at = f"{where}, {contract.venue_id} {day}"
        prices = [_number(v, at, name) for v, name in zip(row[1:5], ("open", "high", "low", "close"))]
        if min(prices) <= 0:
            raise SourceError(f"{NAME}: {at}: non-positive price in {row[1:5]}")
        volume = None
        if price_type == "last":
            volume = _number(row[7] if contract.margin == "cm" else row[5], at, "volume")
        out.append({"date": day, "venue": VENUE, "symbol": contract.symbol, "kind": contract.kind,
                    "price_type": price_type, "open": prices[0], "high": prices[1], "low": prices[2],
                    "close": prices[3], "volume": volume})
    return pl.DataFrame(out, schema=RAW_CRYPTO_OHLCV.polars_schema).unique(["date"], keep="last")


def parse_funding(data: bytes, where: str, symbol: str) -> pl.DataFrame:
    """raw.funding rows of one fundingRate CSV: `calc_time,funding_interval_hours,last_funding_rate`
    (headerless files too; two-column files have no interval and take it from the spacing)."""
    times, rates, hours = [], [], []
    for number, row in enumerate(_rows(data, where), start=1):
        if len(row) not in (2, 3):
            raise SourceError(f"{NAME}: {where}: funding row {number} of {symbol} has {len(row)} columns, "
                              "expected calc_time,funding_interval_hours,last_funding_rate")
        stamp = _epoch_ms(row[0], where)
        times.append(dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=stamp))
        rates.append(_number(row[-1], f"{where}, {symbol} {_day(stamp)}", "funding rate"))
        hours.append(_number(row[1], where, "funding interval") if len(row) == 3 else None)
    frame = pl.DataFrame({"funding_ts": times, "rate": rates}, schema={"funding_ts": pl.Datetime("us"), "rate": pl.Float64})
    rows = normalize_settlements(frame, VENUE, symbol)
    if hours and all(h is not None for h in hours):
        # The file states each settlement's interval; normalize_settlements sorted by time, so sort alike.
        stated = pl.DataFrame({"funding_ts": times, "stated": hours}).with_columns(
            pl.col("funding_ts").dt.round("1m")).unique("funding_ts", keep="last")
        rows = rows.join(stated, on="funding_ts", how="left").with_columns(
            interval_hours=pl.col("stated").cast(pl.Float64)).select(RAW_FUNDING.column_names)
    return rows


# ------------------------------------------------------------------------------------ archive files
class ArchiveFiles:
    """The archive's files under `location` (a folder holding `data/`, or a base URL), verified.

    `read(path)` returns the CSV inside the zip at `path` (relative to the archive root), or None when the
    archive has no such file. URLs are fetched once into `cache_dir`; `today` decides which months are
    long over (their absence is remembered)."""

    def __init__(self, location: str, cache_dir: str | os.PathLike | None = None, verify_checksums: bool = True,
                 timeout_seconds: float = 30.0, max_retries: int = 3, backoff_seconds: float = 1.0,
                 venue_budget_seconds: float = 40.0, sleep: Callable[[float], None] = time.sleep,
                 stats: HistoryStats | None = None):
        self.remote = location.startswith(("http://", "https://"))
        self.location = location.rstrip("/")
        if self.remote and cache_dir is None:
            raise SourceError(f"{NAME}: {location} is a URL, so a cache folder is needed (cache_dir)")
        if not self.remote and not Path(location).is_dir():
            raise SourceError(f"{NAME}: folder {location} does not exist (expected the archive's data/ tree)")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.verify_checksums = verify_checksums
        self.policy = RetryPolicy(retries=max_retries, backoff_seconds=backoff_seconds,
                                  timeout_seconds=timeout_seconds, venue_budget_seconds=venue_budget_seconds)
        self.budget = VenueBudget(NAME, venue_budget_seconds)
        self.sleep = sleep
        self.stats = stats if stats is not None else HistoryStats()

    def read(self, path: str, remember_absence: bool = False) -> bytes | None:
        if self.remote:
            data = self._cached(path, remember_absence)
        else:
            data = self._local(path)
        if data is None:
            self.stats.missing.append(path)
            return None
        self.stats.files_read += 1
        return data

    # -- local folder
    def _local(self, path: str) -> bytes | None:
        file = Path(self.location) / path
        if not file.is_file():
            unzipped = file.with_suffix(".csv")
            return unzipped.read_bytes() if unzipped.is_file() else None
        checksum = file.with_name(file.name + ".CHECKSUM")
        expected = checksum.read_bytes() if checksum.is_file() else None
        return self._unzip(path, file.read_bytes(), expected, str(file))

    # -- URL with a cache folder
    def _cached(self, path: str, remember_absence: bool) -> bytes | None:
        assert self.cache_dir is not None
        file = self.cache_dir / path
        absent = file.with_name(file.name + ".absent")
        checksum_file = file.with_name(file.name + ".CHECKSUM")
        if absent.is_file():
            return None
        if file.is_file():
            expected = checksum_file.read_bytes() if checksum_file.is_file() else None
            return self._unzip(path, file.read_bytes(), expected, str(file))
        body = self._download(path)
        if body is None:
            if remember_absence:
                absent.parent.mkdir(parents=True, exist_ok=True)
                absent.write_bytes(b"")
            return None
        expected = self._download(path + ".CHECKSUM") if self.verify_checksums else None
        if self.verify_checksums and expected is None:
            raise SourceError(f"{NAME}: {self.location}/{path}.CHECKSUM is missing, so {path} cannot be "
                              "verified (set verify_checksums false to accept unverified files)")
        data = self._unzip(path, body, expected, f"{self.location}/{path}")
        # Keep the files only once they are verified, written whole (rename) so a crash leaves no half file.
        for target, content in ((checksum_file, expected), (file, body)):
            if content is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".part")
                partial.write_bytes(content)
                partial.replace(target)
        return data

    def _download(self, path: str) -> bytes | None:
        """The file's bytes, or None when the archive answers 404; transient failures (429, 5xx, network)
        are asked again under the one retry rule, within the archive's time budget."""
        url = f"{self.location}/{path}"

        def attempt(timeout: float) -> bytes | None:
            self.stats.requests += 1
            try:
                with urllib.request.urlopen(url, timeout=timeout) as answer:
                    return answer.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                raise

        body = call_with_retries(attempt, what=f"{NAME}: downloading {url}", policy=self.policy,
                                 budget=self.budget, classify=_transient_download,
                                 describe=lambda exc: f"{type(exc).__name__}: {exc}"[:300], sleep=self.sleep)
        if body is not None and not path.endswith(".CHECKSUM"):
            self.stats.downloads += 1
        return body

    def _unzip(self, path: str, body: bytes, checksum: bytes | None, shown: str) -> bytes:
        if self.verify_checksums:
            if checksum is None:
                raise SourceError(f"{NAME}: {shown}.CHECKSUM is missing, so {shown} cannot be verified "
                                  "(set verify_checksums false to accept unverified files)")
            expected = checksum.decode("ascii", errors="replace").split()[0].lower() if checksum.strip() else ""
            actual = hashlib.sha256(body).hexdigest()
            if expected != actual:
                raise SourceError(f"{NAME}: {shown} does not match its CHECKSUM (sha256 {actual}, "
                                  f"CHECKSUM says {expected or 'nothing'}); the file is damaged: delete it and download "
                                  "it again")
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
                if len(names) != 1:
                    raise SourceError(f"{NAME}: {shown} holds {len(names)} CSV files, expected one")
                return archive.read(names[0])
        except zipfile.BadZipFile:
            raise SourceError(f"{NAME}: {shown} is not a readable zip file") from None


def _transient_download(exc: BaseException) -> Transient | None:
    """Whether a failed download is worth asking again: rate limits, server errors, network failures."""
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code in (408, 429) or exc.code >= 500:
            return Transient(f"HTTP {exc.code}", parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None))
        return None
    if isinstance(exc, (urllib.error.URLError, TimeoutError, ConnectionError)):
        return Transient(type(exc).__name__)
    return None


# -------------------------------------------------------------------------------------- the source
@dataclass(frozen=True)
class Series:
    """One kline series of one instrument in the archive."""

    contract: BinanceContract
    price_type: str  # last | mark | index
    folder: str  # data/futures/um, data/futures/cm or data/spot
    dataset: str  # klines | markPriceKlines | indexPriceKlines
    file_symbol: str  # the symbol in the file's path (the pair for index klines)


class BinanceArchiveSource:
    """Binance history from its public data archive (see the module doc).

    location: a folder holding the archive's `data/` tree, or a base URL (https://data.binance.vision or
    a mirror); cache_dir: where downloaded files are kept (required for a URL); margins: `um` (USD-M,
    linear) and/or `cm` (COIN-M, inverse); spot: `spot` (spot archive) or `index` (USD-M index klines);
    today: the current UTC day (which months are published)."""

    name = NAME
    reads_by_month = True  # files are monthly and parsed once per run: asking month by month costs nothing

    def __init__(self, location: str, underlyings: Iterable[str] = ("BTC", "ETH"), margins: Iterable[str] = MARGINS,
                 cache_dir: str | os.PathLike | None = None, spot: str = "spot", verify_checksums: bool = True,
                 today: dt.date | None = None, timeout_seconds: float = 30.0, max_retries: int = 3,
                 backoff_seconds: float = 1.0, venue_budget_seconds: float = 40.0,
                 sleep: Callable[[float], None] = time.sleep):
        self.margins = tuple(margins)
        unknown = [m for m in self.margins if m not in MARGINS]
        if unknown or spot not in ("spot", "index"):
            raise SourceError(f"{NAME}: margins must be among {MARGINS} (got {list(self.margins)}) and spot "
                              f"'spot' or 'index' (got {spot!r})")
        self.underlyings = tuple(underlyings)
        self.spot = spot
        self.today = today or dt.datetime.now(dt.timezone.utc).date()
        self.stats = HistoryStats()
        self.files = ArchiveFiles(location, cache_dir, verify_checksums, timeout_seconds, max_retries, backoff_seconds,
                                  venue_budget_seconds, sleep, self.stats)
        self._parsed: dict[str, pl.DataFrame | None] = {}

    # -- what to read
    def series(self, start: dt.date, end: dt.date) -> list[Series]:
        found = []
        for coin in self.underlyings:
            if self.spot == "spot":
                spot = BinanceContract("spot", coin, "spot")
                found.append(Series(spot, "last", "data/spot", "klines", spot.pair))
            else:
                spot = BinanceContract("um", coin, "spot")
                found.append(Series(spot, "index", "data/futures/um", "indexPriceKlines", spot.pair))
            for margin in self.margins:
                folder = f"data/futures/{margin}"
                perp = BinanceContract(margin, coin, "perp")
                found.append(Series(perp, "last", folder, "klines", perp.venue_id))
                found.append(Series(perp, "mark", folder, "markPriceKlines", perp.venue_id))
                for contract in quarterlies(margin, coin, start, end):
                    found.append(Series(contract, "last", folder, "klines", contract.venue_id))
        return found

    def contracts(self, start: dt.date, end: dt.date) -> list[BinanceContract]:
        return list(dict.fromkeys(s.contract for s in self.series(start, end)))

    # -- CryptoSource
    def crypto_bars(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = []
        for series in self.series(start, end):
            life = contract_life(series.contract, start, end)
            if life is None:
                continue
            frames.append(self._series_rows(series, *life))
        return concat_frames(frames, RAW_CRYPTO_OHLCV.polars_schema, ["date", "venue", "symbol", "price_type"])

    def instruments(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        return snapshots_from_bars(self.crypto_bars(start, end),
                                   [c.instrument() for c in self.contracts(start, end)])

    def funding(self, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = []
        for coin in self.underlyings:
            for margin in self.margins:
                perp = BinanceContract(margin, coin, "perp")
                for year, month in _months(start, end):
                    name = f"{perp.venue_id}-fundingRate-{year:04d}-{month:02d}"
                    path = f"data/futures/{margin}/monthly/fundingRate/{perp.venue_id}/{name}.zip"
                    frame = self._parse(path, lambda data: parse_funding(data, path, perp.symbol),
                                        self._long_over(year, month))
                    if frame is not None:
                        frames.append(frame.filter((pl.col("date") >= start) & (pl.col("date") < end)))
        return concat_frames(frames, RAW_FUNDING.polars_schema, ["date", "venue", "symbol", "funding_ts"])

    # -- reading
    def _series_rows(self, series: Series, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = []
        base = f"{series.folder}/{{period}}/{series.dataset}/{series.file_symbol}/1d/{series.file_symbol}-1d-"
        parse = lambda path: lambda data: parse_klines(data, path, series.contract, series.price_type)  # noqa: E731
        for year, month in _months(start, end):
            path = base.format(period="monthly") + f"{year:04d}-{month:02d}.zip"
            frame = self._parse(path, parse(path), self._long_over(year, month))
            if frame is None and not self._long_over(year, month):
                # Not published as a month yet: the days of it that are over come as daily files.
                daily = []
                for day in _days_of_month(year, month, start, min(end, self.today)):
                    day_path = base.format(period="daily") + f"{day:%Y-%m-%d}.zip"
                    daily.append(self._parse(day_path, parse(day_path), False))
                frame = pl.concat([f for f in daily if f is not None]) if any(f is not None for f in daily) else None
            if frame is not None:
                frames.append(frame.filter((pl.col("date") >= start) & (pl.col("date") < end)))
        return concat_frames(frames, RAW_CRYPTO_OHLCV.polars_schema, ["date"])

    def _parse(self, path: str, parser: Callable[[bytes], pl.DataFrame], remember_absence: bool) -> pl.DataFrame | None:
        # Each file is read and parsed once per run, whichever table asks first.
        if path not in self._parsed:
            data = self.files.read(path, remember_absence)
            self._parsed[path] = None if data is None else parser(data)
        return self._parsed[path]

    def _long_over(self, year: int, month: int) -> bool:
        """True when the archive has had time to publish the month's file (the month before last or older)."""
        current = self.today.year * 12 + self.today.month - 1
        return year * 12 + month - 1 < current - 1


def _ms(moment: dt.datetime | dt.date) -> int:
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    return int(moment.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def _day(ms: int) -> dt.date:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)).date()


def _months(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    """(year, month) of every month with a day in [start, end)."""
    months = []
    year, month = start.year, start.month
    last = end - dt.timedelta(days=1)
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _days_of_month(year: int, month: int, start: dt.date, end: dt.date) -> list[dt.date]:
    first = max(start, dt.date(year, month, 1))
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    stop = min(end, following)
    return [first + dt.timedelta(days=i) for i in range((stop - first).days)]
