"""``twincast plot SERIES --out FILE.png``: actual values and forecasts of one series.

The forecast made at event t is drawn at the time of the series' next event (the value it
forecast); vertical lines mark where the model version changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from foundation.errors import SchemaError, TwincastError
from foundation.kafka.topic_reader import read_topic
from foundation.settings.base import MAX_EVENT_BYTES, KafkaSettings
from schemas import Forecast, decode, decode_event


@dataclass(frozen=True)
class SeriesView:
    times: list[datetime]
    actuals: list[float]
    forecast_times: list[datetime]
    forecasts: list[float]
    versions: list[int]
    # The prediction interval of each forecast (NaN where it had none).
    lowers: list[float] = field(default_factory=list)
    uppers: list[float] = field(default_factory=list)


def collect(settings: KafkaSettings, series_id: str) -> SeriesView:
    """Actuals from the events topic and forecasts from the forecasts topic, for one series."""
    events = []
    for record in read_topic(settings, settings.events_topic):
        if record.key != series_id.encode():
            continue
        try:
            event = decode_event(record.value, n_features=1, max_bytes=MAX_EVENT_BYTES)
        except SchemaError:
            continue  # the DLQ has it
        events.append((record.partition, record.offset, event.ts, event.features()[0]))
    events.sort()
    forecasts: dict[tuple[int, int], Forecast] = {}
    for record in read_topic(settings, settings.forecasts_topic):
        if record.key == series_id.encode():
            f = decode(Forecast, record.value)
            forecasts[(f.source_partition, f.source_offset)] = f  # duplicates collapse
    times = [ts for _, _, ts, _ in events]
    view = SeriesView(times, [v for _, _, _, v in events], [], [], [])
    for index, (partition, offset, _, _) in enumerate(events[:-1]):
        made = forecasts.get((partition, offset))
        if made is not None:
            view.forecast_times.append(times[index + 1])
            view.forecasts.append(made.forecast)
            view.versions.append(made.model_version)
            view.lowers.append(math.nan if made.lower is None else made.lower)
            view.uppers.append(math.nan if made.upper is None else made.upper)
    return view


def draw(view: SeriesView, series_id: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    if not view.times:
        raise TwincastError(f"no events of series {series_id!r} on the events topic")
    times, forecast_times = _days(view.times), _days(view.forecast_times)
    fig, ax = plt.subplots(figsize=(12, 5))
    ax.xaxis_date()
    ax.plot(times, view.actuals, color="black", linewidth=1.2, label="actual")
    ax.plot(
        forecast_times,
        view.forecasts,
        color="tab:orange",
        linewidth=1.0,
        label="forecast (one step ahead)",
    )
    if view.lowers and not all(math.isnan(low) for low in view.lowers):
        ax.fill_between(
            forecast_times,
            view.lowers,
            view.uppers,
            color="tab:orange",
            alpha=0.2,
            linewidth=0,
            label="prediction interval",
        )
    for i in range(1, len(view.versions)):
        if view.versions[i] != view.versions[i - 1]:
            ax.axvline(forecast_times[i], color="tab:blue", linestyle="--", linewidth=0.8)
            ax.annotate(
                f"v{view.versions[i]}",
                (view.forecast_times[i], 1.0),
                xycoords=("data", "axes fraction"),
                color="tab:blue",
                fontsize=8,
                ha="left",
                va="top",
            )
    ax.set_title(f"twincast: {series_id}")
    ax.set_xlabel("event time")
    ax.legend(loc="lower left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _days(times: list[datetime]) -> list[float]:
    """Matplotlib's date numbers: days since 1970-01-01 UTC (its default epoch)."""
    return [t.timestamp() / 86400.0 for t in times]
