"""What `make demo` prints at the end: the live Table 1 and the most recent anomaly episodes."""

import polars as pl

from pipelines.settings import load_settings
from warehouse.db import Warehouse


def demo_report(recent: int = 8) -> str:
    wh = Warehouse(load_settings().warehouse_path)
    if not wh.path.exists():
        return ""
    status = wh.query(
        "SELECT asset_pair, round(typical_correlation, 2) AS typical, typical_label, "
        "round(current_correlation, 2) AS current, current_label, active, active_codes, active_since, "
        "round(severity, 1) AS severity FROM marts.anomaly_status ORDER BY row"
    )
    as_of = wh.query("SELECT max(as_of) FROM marts.anomaly_status").item()
    episodes = wh.query(
        f"""SELECT code, subject, start, "end", days, round(peak_severity, 1) AS peak, open
            FROM marts.anomaly_episodes WHERE kind = 'anomaly' ORDER BY "end" DESC, start DESC LIMIT {int(recent)}"""
    )
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_width_chars=160, fmt_str_lengths=40, tbl_rows=recent):
        return "\n".join([
            f"\nAnomaly status (Table 1) as of {as_of}:",
            str(status),
            "\nMost recent anomaly episodes:",
            str(episodes),
        ])
