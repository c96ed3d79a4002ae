"""The report directory, the HTML page, the PNG charts and the terminal summary."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from mailsim.analysis import (
    Run,
    format_summary,
    plot_delivery_paths,
    plot_latency,
    plot_queue_depth,
    plot_throughput,
    write_report,
)
from mailsim.analysis.example import NEO, Story, example_eventlog

IMAGES = ["throughput.png", "queue_depth.png", "latency.png", "delivery_paths.png"]


@pytest.fixture(scope="module")
def example() -> Run:
    return Run.from_eventlog(example_eventlog(), name="example", meta={"seed": 42})


@pytest.fixture(scope="module")
def report(example: Run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(example, tmp_path_factory.mktemp("report") / "out", title="Firma <1>")


def png_size(path: Path) -> tuple[int, int]:
    """Return (width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_writes_every_file(report: Path) -> None:
    assert report.name == "report.html"
    names = {path.name for path in report.parent.iterdir()}
    assert names >= {*IMAGES, "summary.csv", "recipients.csv", "report.html"}


@pytest.mark.parametrize("name", IMAGES)
def test_charts_are_real_images(report: Path, name: str) -> None:
    path = report.parent / name
    width, height = png_size(path)
    assert width >= 600 and height >= 300
    assert path.stat().st_size > 10_000  # an empty canvas compresses to a few KB


def test_html_references_every_image_and_table(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources == IMAGES
    assert 'href="summary.csv"' in page and 'href="recipients.csv"' in page
    assert "<title>Firma &lt;1&gt;</title>" in page  # titles are escaped
    assert "messages_submitted" in page and "seed" in page and "42" in page
    assert page.count("<figcaption>") == 4


def test_csv_tables_round_trip(report: Path, example: Run) -> None:
    summary = pd.read_csv(report.parent / "summary.csv")
    assert list(summary.columns) == ["scope", "metric", "value"]
    recipients = pd.read_csv(report.parent / "recipients.csv", keep_default_na=False)
    assert recipients["status"].tolist() == example.recipients()["status"].astype(str).tolist()


def test_format_summary_is_a_plain_text_table(example: Run) -> None:
    text = format_summary(example)
    lines = text.splitlines()
    assert lines[0] == "Run 'example': 49 events over 315 s"
    assert set(lines[1]) == {"="}
    assert re.search(r"^messages_submitted\s+5$", text, re.MULTILINE)
    assert re.search(r"^latency_p50_s\s+3\.500$", text, re.MULTILINE)
    assert re.search(rf"^{re.escape(NEO)}\s+5\s+4\s+1\s+1\s+2\s+2\s+1\s+0\s+4200$", text, re.M)


@pytest.mark.parametrize(
    ("plot", "unit"),
    [
        (plot_throughput, "messages per minute"),
        (plot_queue_depth, "messages in queue"),
        (plot_latency, "recipients"),
        (plot_delivery_paths, "nodes of each hop"),
    ],
)
def test_plots_draw_on_the_given_axes_with_title_and_labels(
    example: Run, plot: object, unit: str
) -> None:
    figure = Figure()
    ax = figure.add_subplot()
    assert callable(plot)
    assert plot(example, ax=ax) is ax
    assert ax.get_title()
    assert ax.get_xlabel()
    assert ax.get_ylabel() == unit
    assert ax.has_data() or ax.patches or ax.collections


def test_plots_make_their_own_figure_without_pyplot(example: Run) -> None:
    ax = plot_latency(example, log_x=True)
    assert isinstance(ax.get_figure(), Figure)
    assert ax.get_xscale() == "log"
    assert "(s)" in ax.get_xlabel()
    assert "min" in plot_throughput(example).get_xlabel()


def test_plots_of_a_run_without_deliveries_say_so() -> None:
    story = Story()
    story.submit(0.0, 1)
    story.connect(0.5, NEO, 1)
    story.reject(0.6, NEO, 1, "nobody@firma1.intr")
    run = Run.from_eventlog(story.log)
    ax = plot_latency(run)
    assert any("no delivered recipients" in text.get_text() for text in ax.texts)
    assert any("no" in text.get_text() for text in plot_queue_depth(run).texts)


def test_plot_queue_depth_rejects_unknown_queue(example: Run) -> None:
    with pytest.raises(ValueError, match="unknown queue"):
        plot_queue_depth(example, queues=["maildrop"])


def test_long_queue_series_are_drawn_as_their_peak_per_bin(example: Run) -> None:
    ax = plot_queue_depth(example, nodes=[NEO], queues=["deferred"], max_steps=2)
    assert ax.get_title().endswith("deferred, maximum per 1 min)")
    (line,) = ax.get_lines()
    # Steps 12 s -> 1, 41 s -> 2, 312 s -> 1; 60 s bins over 315 s: the peak 2 holds to the end.
    assert list(line.get_ydata()) == [0, 2, 2, 2, 2, 2, 2, 2]
    assert list(line.get_xdata()) == pytest.approx([0, 0, 1, 2, 3, 4, 5, 5.25])


def test_throughput_bins_grow_with_the_run(example: Run) -> None:
    from mailsim.analysis.plots import auto_interval

    assert [auto_interval(span) for span in (300, 9000, 36000, 86400 * 30)] == [
        60.0, 60.0, 300.0, 86400.0,
    ]  # fmt: skip
    assert "(60 s bins)" in plot_throughput(example).get_title()
