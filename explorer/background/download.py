"""A dataset download as work for a BackgroundRun (see explorer/background/runs.py):
progress is reported as ``models.data.DownloadProgress`` items, Cancel is the run's
stop flag, and a failure is a ``models.data.DataError`` whose message says what to do."""
from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject

from explorer.background.runs import BackgroundRun, Report, ShouldStop
from models import data

log = logging.getLogger(__name__)

# A stalled mirror must not hold up closing the window for long: the download only
# sees the stop flag between blocks, so this bounds how long a stop can take.
DOWNLOAD_TIMEOUT_S = 10

Work = Callable[[Report, ShouldStop], None]


def download_run(parent: QObject | None = None) -> BackgroundRun:
    """A BackgroundRun for downloads: DataError messages are shown as they are, no torch."""
    return BackgroundRun(parent, expected=(data.DataError,), threads=None, name="download")


def download_work(name: str, data_dir: str | None, *, mirrors: tuple[str, ...] | None = None) -> Work:
    """Work that downloads dataset ``name`` into ``data_dir`` (None: the user cache) from
    ``mirrors`` (None: the dataset registry's public mirrors)."""

    def work(report: Report, should_stop: ShouldStop) -> None:
        try:
            data.download_dataset(
                name, data_dir=data_dir, progress=report, should_cancel=should_stop, mirrors=mirrors,
                timeout=DOWNLOAD_TIMEOUT_S,
            )
        except data.DownloadCancelled:
            return  # the user asked for it: the run ends without an error, its stop flag set
        except data.DataError:
            raise
        except Exception as exc:  # anything else still reaches the user as a sentence
            log.exception("download failed")
            raise data.DataError(f"The download failed unexpectedly: {type(exc).__name__}: {exc}") from exc

    return work
