"""A Binance public data archive in its documented layout, written from the sample market.

`write_archive` lays out `data/futures/{um,cm}/{monthly,daily}/{klines,markPriceKlines,indexPriceKlines}/...`,
`data/futures/{um,cm}/monthly/fundingRate/...` and `data/spot/monthly/klines/...` as zip files with a
`.zip.CHECKSUM` (sha256) beside each, the way data.binance.vision serves them:

- `sample_a` (linear) is USD-M: BTCUSDT, BTCUSDT_230630; its spot is the spot archive's BTCUSDT;
- `sample_b` (inverse) is COIN-M: BTCUSD_PERP, BTCUSD_230630 (contracts in column 5, coins in column 7);
  its index is written as the USD-M index price klines of BTCUSDT;
- months alternate between CSVs with a header row (even months) and without (odd months);
- monthly delivery files carry rows after the contract's expiry (junk prices) that a reader must drop;
- funding times carry millisecond jitter, and small rates are written in scientific notation.

It returns what was written as the warehouse should read it (`Written.bars`, `Written.funding`), built
from the sample values here, independently of the reader. `FolderServer` serves such a folder over HTTP
on 127.0.0.1 and counts requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl

from fake_venues import Book, identify, num
from local_http import LocalServer, send

DAY_MS = 86_400_000
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                "taker_buy_quote_volume,ignore")
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
BARS_SCHEMA = {"date": pl.Date, "venue": pl.Utf8, "symbol": pl.Utf8, "kind": pl.Utf8, "price_type": pl.Utf8,
               "open": pl.Float64, "high": pl.Float64, "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64}


@dataclass
class Written:
    bars: list[dict] = field(default_factory=list)
    funding: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def bars_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.bars, schema=BARS_SCHEMA).sort("date", "venue", "symbol", "price_type")

    def funding_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.funding, schema={
            "date": pl.Date, "venue": pl.Utf8, "symbol": pl.Utf8, "funding_ts": pl.Datetime("us"), "rate": pl.Float64,
            "interval_hours": pl.Float64}).sort("date", "venue", "symbol", "funding_ts")


def write_zip(root: Path, path: str, csv_text: str) -> None:
    """A zip holding one CSV named like the zip, and its CHECKSUM file (`sha256  name`)."""
    file = root / path
    file.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(file.name.replace(".zip", ".csv"), csv_text)
    body = buffer.getvalue()
    file.write_bytes(body)
    file.with_name(file.name + ".CHECKSUM").write_text(f"{hashlib.sha256(body).hexdigest()}  {file.name}\n")


def _day(ts: int) -> dt.date:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ts)).date()


def _month_of(ts: int) -> tuple[int, int]:
    day = _day(ts)
    return day.year, day.month


def _kline(ts: int, o: float, h: float, low: float, c: float, base_volume: float | None, cm_size: float | None) -> str:
    if base_volume is None:  # mark and index klines
        volume, column7 = "0", "0"
    elif cm_size is not None:  # COIN-M: contracts in column 5, coins in column 7
        volume, column7 = num(base_volume * c / cm_size), num(base_volume)
    else:
        volume, column7 = num(base_volume), num(base_volume * c)
    return ",".join([str(ts), num(o), num(h), num(low), num(c), volume, str(ts + DAY_MS - 1), column7, "1000",
                     "0", "0", "0"])


def write_archive(root: Path, book: Book, coins=("BTC", "ETH"), daily_months: set[tuple[int, int]] = frozenset(),
                  post_expiry_junk: bool = True) -> Written:
    """Write the book's BTC/ETH instruments as Binance's archive under `root`; months in `daily_months`
    are written as daily files only (the archive has not published them as a month yet)."""
    written = Written()

    def series(folder: str, dataset: str, file_symbol: str, candles: list[tuple], expiry_ms: int | None,
               symbol: str, kind: str, price_type: str, cm_size: float | None, volume_kept: bool) -> None:
        by_month: dict[tuple[int, int], list[str]] = {}
        by_day: dict[dt.date, str] = {}
        for ts, o, h, low, c, v in candles:
            if expiry_ms is not None and ts >= expiry_ms:
                continue
            line = _kline(ts, o, h, low, c, v if volume_kept else None, cm_size)
            by_month.setdefault(_month_of(ts), []).append(line)
            by_day[_day(ts)] = line
            written.bars.append({"date": _day(ts), "venue": "binance", "symbol": symbol, "kind": kind,
                                 "price_type": price_type, "open": o, "high": h, "low": low, "close": c,
                                 "volume": v if volume_kept else None})
        if post_expiry_junk and expiry_ms is not None and candles:
            # Rows after the expiry in the expiry month's file: a reader must drop them.
            month = _month_of(expiry_ms)
            for k in range(1, 3):
                ts = (expiry_ms // DAY_MS + k) * DAY_MS
                if _month_of(ts) == month and month in by_month:
                    by_month.setdefault(month, []).append(_kline(ts, 1.0, 1.0, 1.0, 1.0, 1.0, cm_size))
        for (year, month), lines in by_month.items():
            if (year, month) in daily_months:
                for day, line in by_day.items():
                    if (day.year, day.month) == (year, month):
                        path = f"{folder}/daily/{dataset}/{file_symbol}/1d/{file_symbol}-1d-{day:%Y-%m-%d}.zip"
                        write_zip(root, path, line + "\n")
                        written.files.append(path)
                continue
            path = f"{folder}/monthly/{dataset}/{file_symbol}/1d/{file_symbol}-1d-{year:04d}-{month:02d}.zip"
            header = [KLINE_HEADER] if month % 2 == 0 else []
            write_zip(root, path, "\n".join(header + lines) + "\n")
            written.files.append(path)

    for sample_venue, margin in (("sample_a", "um"), ("sample_b", "cm")):
        folder = f"data/futures/{margin}"
        for c in book.contracts[sample_venue]:
            if c.coin not in coins:
                continue
            venue_id = identify("binance", c).venue_id
            cm_size = c.contract_size if margin == "cm" else None
            if c.kind == "spot" and margin == "um":
                series("data/spot", "klines", venue_id, book.candles[(sample_venue, c.symbol, "last")], None,
                       c.symbol, "spot", "last", None, True)
            elif c.kind == "spot":  # sample_b's index, as the USD-M index of the coin's USDT pair
                pair = f"{c.coin}USDT"
                candles = book.candles[(sample_venue, c.symbol, "index")]
                series("data/futures/um", "indexPriceKlines", pair, candles, None, f"{c.coin}/USDT", "spot", "index",
                       None, False)
            elif c.kind == "perp":
                series(folder, "klines", venue_id, book.candles[(sample_venue, c.symbol, "last")], None, c.symbol,
                       "perp", "last", cm_size, True)
                series(folder, "markPriceKlines", venue_id, book.candles[(sample_venue, c.symbol, "mark")], None,
                       c.symbol, "perp", "mark", None, False)
                write_funding(root, folder, venue_id, c.symbol, book.funding.get((sample_venue, c.symbol), []), written)
            else:
                series(folder, "klines", venue_id, book.candles[(sample_venue, c.symbol, "last")], c.expiry_ms,
                       c.symbol, "future", "last", cm_size, True)
    return written


def write_funding(root: Path, folder: str, venue_id: str, symbol: str, rows: list[tuple[int, float, float]],
                  written: Written) -> None:
    by_month: dict[tuple[int, int], list[str]] = {}
    for i, (ts, rate, hours) in enumerate(rows):
        jitter = (i * 7) % 23  # milliseconds, as the real files have
        text = f"{rate:.8E}" if abs(rate) < 1e-5 else f"{rate:.8f}"
        by_month.setdefault(_month_of(ts), []).append(f"{ts + jitter},{hours:g},{text}")
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ts)
        written.funding.append({"date": moment.date(), "venue": "binance", "symbol": symbol, "funding_ts": moment,
                                "rate": float(text), "interval_hours": float(hours)})
    for (year, month), lines in by_month.items():
        path = f"{folder}/monthly/fundingRate/{venue_id}/{venue_id}-fundingRate-{year:04d}-{month:02d}.zip"
        header = [FUNDING_HEADER] if month % 2 == 0 else []
        write_zip(root, path, "\n".join(header + lines) + "\n")
        written.files.append(path)


@dataclass
class FolderServer(LocalServer):
    """Serves the files under `root` at their relative paths; 404 for anything else."""

    root: Path
    requests: list[str] = field(default_factory=list)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        path = urlsplit(request.path).path.lstrip("/")
        self.requests.append(path)
        file = (self.root / path).resolve()
        if not file.is_file() or self.root.resolve() not in file.parents:
            return send(request, 404, "<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        data = file.read_bytes()
        request.send_response(200)
        request.send_header("Content-Type", "application/zip")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
