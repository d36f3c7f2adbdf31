"""The weights watcher cannot stop unnoticed: the worker's loop starts a new one where it ended."""

from __future__ import annotations

import logging
import threading

import pytest

from foundation.settings.worker import WorkerSettings
from worker.metrics import WorkerMetrics
from worker.service import WorkerService
from worker.weights_watcher import WeightsWatcher


def test_a_stopped_watcher_is_logged_and_restarted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[int, int]] = []
    following = threading.Event()

    def follow(self: WeightsWatcher) -> None:
        calls.append((self._offset, self._newest_version))
        if len(calls) == 1:
            raise RuntimeError("a bug in the watcher")
        following.set()
        self._stop_requested.wait()

    monkeypatch.setattr(WeightsWatcher, "_follow", follow)
    service = WorkerService(WorkerSettings(metrics_port=0), WorkerMetrics())
    service.watcher = WeightsWatcher(service.settings, 17, 4, service.metrics)
    with caplog.at_level(logging.ERROR):
        service.watcher.start()
        service.watcher.join(timeout=10)
        assert not service.watcher.is_alive()
        service._watch()
        assert following.wait(timeout=10), "a new watcher follows the topic"
    try:
        assert calls == [(17, 4), (17, 4)], "the new one goes on where the old one ended"
        assert "weights watcher stopped at offset 17" in caplog.text
        assert "RuntimeError: a bug in the watcher" in caplog.text
        assert service.metrics.watcher_restarts._value.get() == 1
        service._watch()  # alive: nothing to do
        assert len(calls) == 2
    finally:
        service.watcher.stop()
        service.watcher.join(timeout=10)
