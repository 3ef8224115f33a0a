"""Binance and Deribit history endpoints on 127.0.0.1, on top of the venue stand-ins of `fake_venues`.

Binance (`HistoryVenueServer("binance", ...)`), as its API documentation describes:
- `/fapi/v1/continuousKlines`, `/dapi/v1/continuousKlines` (pair, contractType CURRENT_QUARTER or
  NEXT_QUARTER): the sample quarterly that was current (next) on each day. On an expiry day the series
  switches contract at 08:00, so that day's candle mixes the expiring and the following contract;
- `/fapi/v1/klines?symbol=BTCUSDT_230630`: delivery klines, expired contracts included;
  `/dapi/v1/klines` of an expired COIN-M contract answers 400 `{"code": -1121, "msg": "Invalid symbol."}`.
Deribit (`HistoryVenueServer("deribit", ...)`): `public/get_index_chart_data` (index_name, range) as
`[timestamp, value]` points: each day's open at 00:00, high at 08:00, low at 16:00, and the last day's
close at the following 00:00. Chart data and funding of expired futures come from `fake_venues`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fake_venues import DAY_MS, HOUR_MS, Contract, VenueServer, _rpc, identify, num

CONTRACT_POSITION = {"CURRENT_QUARTER": 0, "NEXT_QUARTER": 1}


@dataclass
class HistoryVenueServer(VenueServer):
    def _binance(self, path: str, q: dict) -> tuple[int, object]:
        segment = "fapi" if path.startswith("/fapi/") else "dapi" if path.startswith("/dapi/") else "spot"
        if path.endswith("/continuousKlines"):
            return 200, self._continuous(segment, q)
        if path.endswith("/klines") and "symbol" in q:
            try:
                _, c = self.contract(segment, q["symbol"])
            except KeyError:  # a contract that never traded
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            if segment == "dapi" and c.expiry_ms is not None and c.expiry_ms < self._now_ms():
                return 400, {"code": -1121, "msg": "Invalid symbol."}
        return super()._binance(path, q)

    def _now_ms(self) -> int:
        return int(dt.datetime(self.today.year, self.today.month, self.today.day,
                               tzinfo=dt.timezone.utc).timestamp() * 1000)

    def _quarterlies(self, segment: str, pair: str) -> list[tuple[str, Contract]]:
        found = [(source, c) for source, c in self.served()
                 if c.segment == segment and c.kind == "future" and c.venue_id.startswith(pair + "_")]
        return sorted(found, key=lambda sc: sc[1].expiry_ms)

    def _continuous(self, segment: str, q: dict) -> list:
        position = CONTRACT_POSITION[q["contractType"]]
        start, end = int(q.get("startTime", 0)), int(q.get("endTime", 2**62))
        limit = int(q.get("limit", 500))
        contracts = self._quarterlies(segment, q["pair"])
        candles = {c.venue_id: {row[0]: row for row in self.candles(source, c, "last", 0, 2**62)}
                   for source, c in contracts}
        rows = []
        day = start - start % DAY_MS
        while day <= end and len(rows) < limit:
            # Contracts still trading at the day's open, nearest expiry first.
            alive = [c for _, c in contracts if c.expiry_ms > day]
            if len(alive) > position and day in candles[alive[position].venue_id]:
                current = alive[position]
                ts, o, h, low, close, volume = candles[current.venue_id][day]
                if current.expiry_ms < day + DAY_MS and len(alive) > position + 1:
                    # Expiry day: from 08:00 the series follows the next contract.
                    following = candles[alive[position + 1].venue_id].get(day)
                    if following:
                        h, low, close = max(h, following[2]), min(low, following[3]), following[4]
                        volume += following[5]
                rows.append(self._kline(segment, current, ts, o, h, low, close, volume))
            day += DAY_MS
        return rows

    @staticmethod
    def _kline(segment: str, c: Contract, ts, o, h, low, close, volume) -> list:
        if segment == "dapi":  # COIN-M: contracts in column 5, coins in column 7
            return [ts, num(o), num(h), num(low), num(close), num(volume * close / c.contract_size), ts + DAY_MS - 1,
                    num(volume), 1000, "0", "0", "0"]
        return [ts, num(o), num(h), num(low), num(close), num(volume), ts + DAY_MS - 1, num(volume * close), 1000,
                "0", "0", "0"]

    def _deribit(self, path: str, q: dict) -> tuple[int, object]:
        if path == "/api/v2/public/get_index_chart_data":
            coin = q["index_name"].split("_")[0].upper()
            spot = next(c for c in self.book.contracts["sample_b"] if c.kind == "spot" and c.coin == coin)
            candles = self.book.candles[("sample_b", spot.symbol, "index")]
            points = []
            for ts, o, h, low, close, _ in candles:
                points += [[ts, o], [ts + 8 * HOUR_MS, h], [ts + 16 * HOUR_MS, low]]
            if candles:
                points.append([candles[-1][0] + DAY_MS, candles[-1][4]])
            return 200, _rpc(points)
        return super()._deribit(path, q)


def deribit_name(c: Contract) -> str:
    return identify("deribit", c).venue_id
