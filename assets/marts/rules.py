"""The anomaly rules of the domain reference, their episodes and the live Table 1. Pure polars, no I/O.

Every threshold arrives as an argument (from AnomalySettings). Conventions:
- z_X(n) = the n-observation log return of X / (sigma_X * sqrt(n)); sigma_X is the std of X's
  one-observation returns over the trailing 180 observations, current excluded (at least 144).
- Cross-asset rules observe traditional trading dates (BTC's return between two dates is the sum of its
  daily log returns); crypto-only rules observe UTC days.
- PERP_QUARTERLY_DIVERGENCE fires on a gap z-score of at least 3 in either direction (the z-score of
  core.perp_quarterly_spread, whose history is re-expressed at today's tenor so a roll is not a divergence).
- LIQUIDATION_DISLOCATION's "perp premium below quarterly basis by at least 1%" is measured against the
  gap's usual level (gap_vs_usual <= -1%): in contango the perpetual sits 1-3% below the quarterly every
  day, so the raw gap alone would call every sharp down day a liquidation. When
  LIQUIDATION_DISLOCATION fires for the same venue and day it is the more specific explanation of the
  same dislocation, and the divergence row is not reported.
- CORRELATION_BREAK's "opposite sign with abs >= 0.3" asks both windows to be at least 0.3 in size: a
  relation that was weak has no usual sign to lose. With the default 0.5 difference every such flip
  differs by 0.6 or more, so the clause decides on its own only when `correlation_break_diff` is raised.
  Its raw z is the Fisher z of the difference.
- Severity is one bounded scale for every code (severity_of, 0 to 10); the raw z stays in the evidence.
- Context labels (EXPIRY_CONVERGENCE, FUNDING_PRESSURE) are stored with kind 'context' and never count
  as anomalies.
"""

from __future__ import annotations

import math

import polars as pl

from assets.core.stats import trailing_std

IMPLICATIONS = {
    "PERP_QUARTERLY_DIVERGENCE": "Basis trade / spread arbitrage: long the cheap leg, short the rich leg, profit from convergence.",
    "LIQUIDATION_DISLOCATION": "Forced deleveraging of long perpetuals; the perpetual is the leg sold first.",
    "CRYPTO_SPECIFIC_SHOCK": "Crypto-specific systemic risk: BTC falls while stocks hold and gold does not fall.",
    "FLIGHT_TO_SAFETY": "Classic risk-off: safe havens bid while BTC and stocks fall.",
    "RISK_ASSET_CO_CRASH": "BTC trades as a risk asset; gold stable; the hedge story fails.",
    "BROAD_LIQUIDATION": "Liquidity crunch: everything sold for cash, correlations go to one.",
    "CAPITAL_ROTATION": "Capital rotation out of risk assets; BTC decoupled and trading sideways.",
    "CORRELATION_BREAK": "The usual hedge or risk relation no longer holds.",
    "EXPIRY_CONVERGENCE": "Context: a quarterly converging to spot into expiry; the intended outcome, not an anomaly.",
    "FUNDING_PRESSURE": "Context: the funding mechanism correcting leverage while the perp/quarterly gap is normal.",
}

# Table 1 of the article, live: each row's pair and the codes that make its condition active.
TABLE_1 = (
    dict(row=1, asset_pair="BTC perpetual vs BTC quarterly", pair="btc_perp~btc_quarterly", underlying="BTC",
         condition="Extreme basis divergence (due to funding rates)",
         codes=("PERP_QUARTERLY_DIVERGENCE", "LIQUIDATION_DISLOCATION"), implication_code="PERP_QUARTERLY_DIVERGENCE"),
    dict(row=2, asset_pair="BTC vs gold", pair="btc~gold", underlying="BTC",
         condition="Sudden liquidity event: BTC crashes while gold rises",
         codes=("CRYPTO_SPECIFIC_SHOCK", "FLIGHT_TO_SAFETY", "RISK_ASSET_CO_CRASH", "BROAD_LIQUIDATION"),
         implication_code="CRYPTO_SPECIFIC_SHOCK"),
    dict(row=3, asset_pair="BTC vs Nasdaq", pair="btc~nasdaq", underlying="BTC",
         condition="BTC decouples and trades sideways while stocks plummet",
         codes=("CAPITAL_ROTATION",), implication_code="CAPITAL_ROTATION"),
)

ANOMALY_COLUMNS = [
    "date", "code", "kind", "subject", "calendar", "severity", "implication",
    "z_btc", "z_nasdaq", "z_gold", "btc_return", "nasdaq_return", "gold_return",
    "perp_premium", "quarterly_basis", "gap", "gap_vs_usual", "gap_z", "dte", "funding_daily", "funding_apr", "funding_z",
    "corr_short", "corr_baseline", "evidence",
]

_NUMERIC = set(ANOMALY_COLUMNS[5:6] + ANOMALY_COLUMNS[7:-1])


def zscores(returns: pl.DataFrame, horizon: int, window: int, min_obs: int) -> pl.DataFrame:
    """Per calendar and series: ret_1, ret_n (n-observation log return), sigma, z_1, z_n."""
    ordered = returns.sort("calendar", "series", "date")
    keys = ["calendar", "series"]
    sigma = trailing_std(pl.col("log_return"), window, min_obs).over(keys)
    # The n-observation return needs all n one-observation returns: no gap is silently bridged.
    ret_n = pl.col("log_return").rolling_sum(horizon, min_samples=horizon).over(keys)
    return ordered.with_columns(sigma=sigma, ret_n=ret_n).select(
        "calendar", "series", "date", "prev_date",
        ret_1="log_return", ret_n="ret_n", sigma="sigma",
        z_1=pl.col("log_return") / pl.col("sigma"),
        z_n=pl.col("ret_n") / (pl.col("sigma") * math.sqrt(horizon)),
    )


# Severity: one bounded scale for every code. A rule's raw z (a return's, the gap's, funding's, or the Fisher z of
# a correlation change; the largest involved) stays in the evidence columns; severity is -log10 of the
# two-sided normal tail probability of that z, capped at SEVERITY_MAX: "an observation this extreme is seen once
# in 10^severity normal observations". |z| = 2 gives 1.3, 3 gives 2.6, 4 gives 4.2, 5 gives 6.2; from
# |z| = 6.5 on it is 10. So a near-zero baseline variance cannot report 100 beside 4.
SEVERITY_MAX = 10.0


def severity_of(z: pl.Expr) -> pl.Expr:
    """Severity on the 0..SEVERITY_MAX scale from a raw z (sign ignored); null stays null."""
    tail = (z.abs() / math.sqrt(2)).map_batches(_erfc, return_dtype=pl.Float64)
    return (-tail.clip(lower_bound=1e-300).log10()).clip(0.0, SEVERITY_MAX)


def _erfc(values: pl.Series) -> pl.Series:
    return pl.Series(values.name, [None if v is None else math.erfc(v) for v in values], dtype=pl.Float64)


def baselines_complete_from(returns: pl.DataFrame, a) -> object | None:
    """The first day BTC's n-observation z on the traditional calendar exists: the end of the warm-up, before
    which no cross-asset rule can fire (the other baselines, 180 observations of the crypto calendar, are
    complete sooner). None while it does not exist yet."""
    z = zscores(returns.filter((pl.col("series") == "BTC") & (pl.col("calendar") == "traditional")),
                a.return_horizon, a.sigma_window, a.sigma_min_obs)
    ready = z.filter(pl.col("z_n").is_not_null())
    return ready["date"].min() if ready.height else None


def _finish(frame: pl.DataFrame, code: str, kind: str, calendar: str, evidence: list[str]) -> pl.DataFrame:
    """Common columns of a rule's firing rows, with the evidence also as one JSON object per row. A rule sets
    `severity` to its raw z; the evidence keeps it as `z` and severity becomes the bounded scale."""
    if "severity" in frame.columns:
        frame = frame.with_columns(z=pl.col("severity"), severity=severity_of(pl.col("severity")))
        evidence = [*evidence, "z"]
    fields = [pl.col(c).round(6) if frame.schema[c].is_float() else pl.col(c) for c in evidence]
    as_json = pl.struct(fields).struct.json_encode() if frame.height else pl.lit(None, dtype=pl.Utf8)
    return frame.with_columns(
        code=pl.lit(code), kind=pl.lit(kind), calendar=pl.lit(calendar),
        implication=pl.lit(IMPLICATIONS[code]), evidence=as_json,
    )


def cross_asset(z: pl.DataFrame, nasdaq: str, a) -> pl.DataFrame:
    """BTC-crash and rotation rules on the traditional calendar."""
    leg = lambda series, name: z.filter((pl.col("calendar") == "traditional") & (pl.col("series") == series)).select(  # noqa: E731
        "date", **{f"z_{name}": "z_n", f"{name}_return": "ret_n"})
    wide = leg("BTC", "btc").join(leg(nasdaq, "nasdaq"), on="date").join(leg("gold", "gold"), on="date", how="left")
    crash = pl.col("z_btc") <= a.crash_z
    nasdaq_falls = pl.col("z_nasdaq") <= a.nasdaq_fall_z
    rules = {
        "CRYPTO_SPECIFIC_SHOCK": (crash & ~nasdaq_falls & (pl.col("gold_return") >= 0), ["z_btc", "z_nasdaq"]),
        "FLIGHT_TO_SAFETY": (crash & nasdaq_falls & (pl.col("z_gold") >= a.gold_up_z), ["z_btc", "z_nasdaq", "z_gold"]),
        "RISK_ASSET_CO_CRASH": (crash & nasdaq_falls & (pl.col("z_gold") > a.gold_down_z) & (pl.col("z_gold") < a.gold_up_z),
                                ["z_btc", "z_nasdaq"]),
        "BROAD_LIQUIDATION": (crash & nasdaq_falls & (pl.col("z_gold") <= a.gold_down_z), ["z_btc", "z_nasdaq", "z_gold"]),
        "CAPITAL_ROTATION": ((pl.col("z_nasdaq") <= a.rotation_nasdaq_z) & (pl.col("z_btc").abs() <= a.rotation_btc_abs_z),
                             ["z_nasdaq"]),
    }
    evidence = ["z_btc", "z_nasdaq", "z_gold", "btc_return", "nasdaq_return", "gold_return"]
    frames = []
    for code, (condition, involved) in rules.items():
        fired = wide.filter(condition.fill_null(False)).with_columns(
            subject=pl.lit("BTC"), severity=pl.max_horizontal([pl.col(c).abs() for c in involved]))
        frames.append(_finish(fired, code, "anomaly", "traditional", evidence))
    return pl.concat(frames, how="diagonal_relaxed")


def crypto_only(spread: pl.DataFrame, funding: pl.DataFrame, z: pl.DataFrame, a) -> pl.DataFrame:
    """Perp/quarterly divergence, liquidation dislocation and funding pressure, per venue and perpetual."""
    coin_z = z.filter(pl.col("calendar") == "crypto").select("date", underlying="series", z_1="z_1")
    daily_funding = funding.select("date", "venue", perp_symbol="symbol", funding_daily="daily_rate",
                                   funding_apr="apr", funding_z="daily_rate_z")
    wide = (
        spread.join(daily_funding, on=["date", "venue", "perp_symbol"], how="left")
        .join(coin_z, on=["date", "underlying"], how="left")
        .with_columns(subject=pl.col("venue") + ":" + pl.col("perp_symbol"), dte=pl.col("quarterly_dte"),
                      z_btc=pl.col("z_1"))
    )
    premium, basis = pl.col("perp_premium"), pl.col("quarterly_basis")
    opposite = (premium.sign() * basis.sign() < 0) & (premium.abs() >= a.divergence_min_leg) & (basis.abs() >= a.divergence_min_leg)
    diverged = ((pl.col("gap_z").abs() >= a.divergence_gap_z) | opposite) & (pl.col("dte") >= a.divergence_min_dte)
    liquidation = (pl.col("gap_vs_usual") <= -a.liquidation_gap) & (pl.col("z_1") <= a.liquidation_z) & (pl.col("funding_daily") < 0)
    pressure = ((pl.col("funding_apr").abs() >= a.funding_pressure_apr) | (pl.col("funding_z").abs() >= a.funding_pressure_z)) & ~diverged
    wide = wide.with_columns(diverged=diverged.fill_null(False), liquidation=liquidation.fill_null(False),
                             pressure=pressure.fill_null(False))
    evidence = ["perp_premium", "quarterly_basis", "gap", "gap_vs_usual", "gap_z", "dte", "funding_daily", "funding_apr", "funding_z", "z_btc"]
    divergence = wide.filter(pl.col("diverged") & ~pl.col("liquidation")).with_columns(severity=pl.col("gap_z").abs())
    dislocation = wide.filter(pl.col("liquidation")).with_columns(
        severity=pl.max_horizontal(pl.col("z_1").abs(), pl.col("gap_z").abs()))
    funding_pressure = wide.filter(pl.col("pressure")).with_columns(
        severity=pl.max_horizontal(pl.col("funding_z").abs(), pl.lit(None, dtype=pl.Float64)))
    return pl.concat([
        _finish(divergence, "PERP_QUARTERLY_DIVERGENCE", "anomaly", "crypto", evidence),
        _finish(dislocation, "LIQUIDATION_DISLOCATION", "anomaly", "crypto", evidence),
        _finish(funding_pressure, "FUNDING_PRESSURE", "context", "crypto", evidence),
    ], how="diagonal_relaxed")


def correlation_breaks(correlations: pl.DataFrame, a) -> pl.DataFrame:
    short, base = pl.col("corr_short"), pl.col("corr_baseline")
    flipped = (short.sign() * base.sign() < 0) & (short.abs() >= a.correlation_flip_abs) & (base.abs() >= a.correlation_flip_abs)
    broke = ((short - base).abs() >= a.correlation_break_diff) | flipped
    fisher = (short.clip(-0.999999, 0.999999).arctanh() - base.clip(-0.999999, 0.999999).arctanh()) / (
        1 / (pl.col("n_short") - 3) + 1 / (pl.col("n_baseline") - 3)).sqrt()
    fired = correlations.filter(broke.fill_null(False)).with_columns(subject=pl.col("pair"), severity=fisher.abs())
    frames = []
    for calendar in ("crypto", "traditional"):
        frames.append(_finish(fired.filter(pl.col("calendar") == calendar), "CORRELATION_BREAK", "anomaly", calendar,
                              ["corr_short", "corr_baseline", "n_short", "n_baseline"]))
    return pl.concat(frames, how="diagonal_relaxed")


def expiry_convergence(basis: pl.DataFrame, a, lookback_days: int = 3) -> pl.DataFrame:
    """A quarterly within `expiry_window_days` of expiry whose |basis| is at or below its level a few days earlier."""
    futures = basis.filter(pl.col("kind") == "future").sort("venue", "symbol", "date").with_columns(
        earlier=pl.col("basis").shift(lookback_days).over("venue", "symbol"))
    fired = futures.filter(
        (pl.col("dte") < a.expiry_window_days) & (pl.col("basis").abs() <= pl.col("earlier").abs()).fill_null(True)
    ).with_columns(subject=pl.col("venue") + ":" + pl.col("symbol"), quarterly_basis=pl.col("basis"),
                   severity=pl.lit(None, dtype=pl.Float64))
    return _finish(fired, "EXPIRY_CONVERGENCE", "context", "crypto", ["dte", "quarterly_basis", "earlier"])


def anomaly_daily(returns: pl.DataFrame, spread: pl.DataFrame, funding: pl.DataFrame, correlations: pl.DataFrame,
                  basis: pl.DataFrame, a, nasdaq: str) -> pl.DataFrame:
    """Every rule evaluated per day and subject; one row per firing."""
    z = zscores(returns, a.return_horizon, a.sigma_window, a.sigma_min_obs)
    frames = [
        cross_asset(z, nasdaq, a),
        crypto_only(spread, funding, z, a),
        correlation_breaks(correlations, a),
        expiry_convergence(basis, a),
    ]
    fired = [f for f in frames if f.height]
    if not fired:
        return pl.DataFrame(schema={c: (pl.Date if c == "date" else pl.Float64 if c in _NUMERIC else pl.Utf8) for c in ANOMALY_COLUMNS})
    out = pl.concat(fired, how="diagonal_relaxed")
    for column in ANOMALY_COLUMNS:
        if column not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias(column))
    return out.select(ANOMALY_COLUMNS).sort("date", "code", "subject")


def episodes(anomalies: pl.DataFrame, calendar_dates: dict[str, pl.Series], latest: dict[str, object]) -> pl.DataFrame:
    """Consecutive observations (of the rule's calendar) of one code on one subject form an episode:
    start, peak (the day of highest severity), end, days, peak severity, and whether it is still open
    (its end is the latest evaluated observation of its calendar)."""
    if anomalies.height == 0:
        return pl.DataFrame()
    indexed = []
    for calendar, dates in calendar_dates.items():
        positions = pl.DataFrame({"date": dates.unique().sort()}).with_row_index("obs")
        indexed.append(anomalies.filter(pl.col("calendar") == calendar).join(positions, on="date", how="inner"))
    rows = pl.concat(indexed).sort("code", "subject", "date")
    keys = ["code", "subject"]
    rows = rows.with_columns(
        episode=((pl.col("obs") - pl.col("obs").shift(1).over(keys)) != 1).fill_null(True).cum_sum().over(keys)
    )
    grouped = rows.group_by(*keys, "episode").agg(
        kind=pl.col("kind").first(),
        calendar=pl.col("calendar").first(),
        start=pl.col("date").min(),
        end=pl.col("date").max(),
        days=pl.len(),
        peak_date=pl.col("date").sort_by(pl.col("severity").fill_null(0.0), descending=True).first(),
        peak_severity=pl.col("severity").max(),
        implication=pl.col("implication").first(),
    )
    latest_frame = pl.DataFrame({"calendar": list(latest), "latest": list(latest.values())}, schema={"calendar": pl.Utf8, "latest": pl.Date})
    return (
        grouped.join(latest_frame, on="calendar", how="left")
        .with_columns(open=pl.col("end") == pl.col("latest"))
        .select("code", "kind", "subject", "calendar", "start", "peak_date", "end", "days", "peak_severity", "open", "implication")
        .sort("start", "code", "subject")
    )


def subject_underlying(subject: pl.Expr) -> pl.Expr:
    """The coin a subject is about: `venue:ETH/USDT:USDT` -> ETH, `venue:BTC/USD:BTC-250328` -> BTC, `BTC` -> BTC;
    null for a pair (`btc~gold`), which is about two series."""
    symbol = pl.when(subject.str.contains(":")).then(subject.str.split(":").list.get(1, null_on_oob=True)).otherwise(subject)
    coin = symbol.str.split("/").list.first()
    return pl.when(subject.str.contains("~")).then(None).otherwise(coin)


def latest_observations(dates_by_calendar: dict[str, pl.Series], day) -> dict[str, object]:
    """Per calendar, its latest observation on or before `day`: on a Saturday the traditional calendar's is
    Friday, so a cross-asset rule's state carries over the days its markets are closed."""
    return {c: (d.filter(d <= day).max() if d.len() else None) for c, d in dates_by_calendar.items()}


def status(correlations: pl.DataFrame, anomalies: pl.DataFrame, episode_table: pl.DataFrame, day, high: float,
           moderate: float, latest: dict[str, object] | None = None) -> pl.DataFrame:
    """The live Table 1 for `day`: one row per Table 1 pair.

    A row is active when one of its codes fired, for the row's underlying, on the latest observation of the
    code's calendar (`latest`: calendar -> that day, see latest_observations; by default `day` itself).
    The article's pairs are BTC's: an ETH divergence is not "BTC perpetual vs BTC quarterly"."""
    latest = latest or {"crypto": day, "traditional": day}
    on_latest = pl.lit(False)
    for calendar, observed in latest.items():
        if observed is not None:
            on_latest = on_latest | ((pl.col("calendar") == calendar) & (pl.col("date") == observed))
    rows = []
    for spec in TABLE_1:
        corr = correlations.filter((pl.col("pair") == spec["pair"]) & (pl.col("date") <= day)).sort("date").tail(1)
        corr_row = corr.row(0, named=True) if corr.height else {}
        about_row = pl.col("code").is_in(spec["codes"]) & (subject_underlying(pl.col("subject")) == spec["underlying"])
        today = anomalies.filter(about_row & on_latest) if anomalies.height else anomalies
        if episode_table.height:
            open_episodes = episode_table.filter(about_row & pl.col("open"))
        else:
            open_episodes = episode_table
        active = today.height > 0
        codes = sorted(set(today["code"].to_list())) if active else []
        rows.append(dict(
            row=spec["row"], asset_pair=spec["asset_pair"], pair=spec["pair"], as_of=day,
            typical_correlation=corr_row.get("corr_baseline"), typical_label=corr_row.get("label_baseline"),
            current_correlation=corr_row.get("corr_short"), current_label=corr_row.get("label_short"),
            condition=spec["condition"], watched_codes=", ".join(spec["codes"]), active=active,
            active_codes=", ".join(codes) or None,
            active_since=open_episodes["start"].min() if active and open_episodes.height else (day if active else None),
            severity=today["severity"].max() if active else None,
            implication=IMPLICATIONS[codes[0] if codes else spec["implication_code"]],
        ))
    return pl.DataFrame(rows)
