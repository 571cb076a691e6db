"""The Prometheus text format the server writes."""

from __future__ import annotations

from finehub.serving.metrics import Counter, Histogram


def test_counter_and_label_escaping() -> None:
    c = Counter("x_total", "Things.", ("module",))
    c.inc('a"b\\c')
    c.inc('a"b\\c', amount=2)
    assert c.render() == [
        "# HELP x_total Things.",
        "# TYPE x_total counter",
        'x_total{module="a\\"b\\\\c"} 3',
    ]


def test_histogram_buckets_are_cumulative() -> None:
    h = Histogram("lat_seconds", "Latency.", ("m",), (0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe("k", value=v)
    assert h.render()[2:] == [
        'lat_seconds_bucket{m="k",le="0.1"} 2',
        'lat_seconds_bucket{m="k",le="1"} 3',
        'lat_seconds_bucket{m="k",le="+Inf"} 4',
        'lat_seconds_sum{m="k"} 3.65',
        'lat_seconds_count{m="k"} 4',
    ]
    assert h.count("k") == 4
