"""Prometheus ``/metrics``: a collector that reads the parts' own counters when scraped.

Names (the Grafana dashboard in config/grafana/ is built on them):

- ``chapar_binds_total{outcome,reason}``: bind attempts (reasons are a fixed set)
- ``chapar_submits_total{status,reason}``: submit_sm answered: ``ok``; ``refused`` with
  the policy reason; ``error`` (``journal`` failed commit, ``decision`` a decision bug)
- ``chapar_account_submits_total{account}``: ESME_ROK per account, the busiest
  ``admin.top_accounts`` by name and the rest summed as ``other`` (bounded cardinality)
- ``chapar_journal_commit_seconds``: group commit latency histogram
- ``chapar_queue_depth{queue}``: outbound (to carriers), receipts (to ESMEs)
- ``chapar_upstream_window_used{upstream}`` / ``_window_size`` / ``_up``,
  ``chapar_upstream_sent_total{upstream}``: per carrier connection
- ``chapar_carrier_answers_total{class}``: accepted / refused / congested;
  ``chapar_messages_expired_total`` (store-and-forward gave up: EXPIRED)
- ``chapar_receipts_total{direction}``: ``from_carrier`` (deliver_sm in, receipts and MO),
  ``to_esme`` (handed to ESME sessions), ``dropped`` (queue full)
- ``chapar_sessions{state}``, ``chapar_connections_refused_total``
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from router.admin.sources import Sources


def top_n(counts: dict[str, int], n: int) -> list[tuple[str, int]]:
    """The ``n`` largest by value, then ``other`` with the rest (when there is a rest)."""
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    head = ranked[:n]
    rest = sum(v for _, v in ranked[n:])
    return [*head, ("other", rest)] if len(ranked) > n else head


class RouterCollector(Collector):
    def __init__(self, sources: Sources, top_accounts: int) -> None:
        self._s = sources
        self._top = top_accounts

    def collect(self) -> Iterator[Metric]:
        yield from self._traffic()
        yield from self._queues()
        yield from self._upstreams()

    def _traffic(self) -> Iterator[Metric]:
        s = self._s
        binds = CounterMetricFamily("chapar_binds", "Bind attempts", labels=["outcome", "reason"])
        for (outcome, reason), count in sorted(s.auth.binds.items()):
            binds.add_metric([outcome, reason], count)
        yield binds
        submits = CounterMetricFamily("chapar_submits", "submit_sm answered",
                                      labels=["status", "reason"])
        submits.add_metric(["ok", ""], sum(s.intake.accepted_by_account.values()))
        for reason, count in sorted(s.intake.refused_by_reason.items()):
            submits.add_metric(["refused", reason], count)
        submits.add_metric(["error", "journal"], s.intake.refused_messages)
        submits.add_metric(["error", "decision"], s.state.failed_decisions)
        yield submits
        flagged = CounterMetricFamily("chapar_content_flagged",
                                      "Sent but flagged by the content filter (recorded)",
                                      labels=["category"])
        for category, count in sorted(s.intake.flagged_by_category.items()):
            flagged.add_metric([category], count)
        yield flagged
        per_account = CounterMetricFamily("chapar_account_submits",
                                          "ESME_ROK per account (top N, rest as other)",
                                          labels=["account"])
        for account, count in top_n(s.intake.accepted_by_account, self._top):
            per_account.add_metric([account], count)
        yield per_account
        hist = s.intake.commit_seconds
        commits = HistogramMetricFamily("chapar_journal_commit_seconds",
                                        "Journal group commit latency")
        commits.add_metric([], hist.cumulative(), sum_value=hist.sum)
        yield commits
        answers = CounterMetricFamily("chapar_carrier_answers", "Carrier answers by class",
                                      labels=["class"])
        for cls, value in (("accepted", s.reports.accepted), ("refused", s.reports.refused),
                           ("congested", s.reports.congested)):
            answers.add_metric([cls], value)
        yield answers
        yield CounterMetricFamily("chapar_messages_expired",
                                  "Messages whose validity passed before a carrier took them",
                                  value=s.outbound.expired)
        receipts = CounterMetricFamily("chapar_receipts", "Receipts and MO",
                                       labels=["direction"])
        for direction, value in (("from_carrier", s.reports.delivers),
                                 ("to_esme", s.inbound.delivered),
                                 ("dropped", s.inbound.dropped)):
            receipts.add_metric([direction], value)
        yield receipts

    def _queues(self) -> Iterator[Metric]:
        s = self._s
        depth = GaugeMetricFamily("chapar_queue_depth", "Messages waiting", labels=["queue"])
        depth.add_metric(["outbound"], s.outbound.queued)
        depth.add_metric(["receipts"], s.inbound.total_queued())
        yield depth
        sessions = GaugeMetricFamily("chapar_sessions", "ESME connections", labels=["state"])
        bound = sum(len(c) for c in s.state.bound.values())
        sessions.add_metric(["bound"], bound)
        sessions.add_metric(["open"], len(s.state.connections))
        yield sessions
        yield CounterMetricFamily("chapar_connections_refused",
                                  "Connections closed at the max_connections limit",
                                  value=s.state.refused_connections)
        yield GaugeMetricFamily("chapar_dispatch_paused", "1 while ESME reading is paused",
                                value=int(s.state.paused))

    def _upstreams(self) -> Iterator[Metric]:
        used = GaugeMetricFamily("chapar_upstream_window_used", "submit_sm outstanding",
                                 labels=["upstream"])
        size = GaugeMetricFamily("chapar_upstream_window_size", "Window", labels=["upstream"])
        up = GaugeMetricFamily("chapar_upstream_up", "1 when bound", labels=["upstream"])
        sent = CounterMetricFamily("chapar_upstream_sent", "submit_sm sent",
                                   labels=["upstream"])
        for c in self._s.pool.connectors:
            session = c.session
            used.add_metric([c.name], session.outstanding if session is not None else 0)
            size.add_metric([c.name], c.config.window)
            up.add_metric([c.name], int(c.ready))
            sent.add_metric([c.name], c.sent)
        yield from (used, size, up, sent)
