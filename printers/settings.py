"""The dispatcher's settings: read from the app's config and cast once, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from printers.polling import Timeouts


@dataclass(frozen=True)
class DispatcherSettings:
    """Everything a dispatcher pass reads from the config (names in ``config.py``)."""

    timeouts: Timeouts  # OCTOPRINT_CONNECT/READ/UPLOAD_TIMEOUT_S
    poll_deadline_s: float  # POLL_DEADLINE_S: a pass waits no longer for polls
    send_wait_s: float  # SEND_WAIT_S: a pass waits this long for its uploads and starts
    lease_s: float  # DISPATCH_LEASE_S: the guard's lease and a claimed job's lease
    interval_s: float  # DISPATCH_INTERVAL_S: between passes
    confirm_polls: int  # COMPLETION_CONFIRM_POLLS: polls in a row that show a print finished
    start_grace_s: float  # START_GRACE_S: started but not printing after this: ask again
    retry_base_s: float  # DISPATCH_RETRY_BASE_S: a printer's back-off after a failed start
    slice_budget_s: float  # SLICE_BUDGET_S: no new slicing after this in a pass
    slicer_diff_threshold: float  # SLICER_DIFF_THRESHOLD: share of the quote's grams (and time)
    upload_dir: Path  # UPLOAD_DIR: stored parts; G-code in its gcode/ folder
    slicer_profile_dir: str  # SLICER_PROFILE_DIR
    slicer_bin: str  # PRUSA_SLICER_BIN
    slicer_timeout_s: float  # SLICER_TIMEOUT_S
    default_slicer_profile: str  # DEFAULT_SLICER_PROFILE
    slice_in_pass: bool = True  # SLICING == "dispatcher"; "worker": task workers slice ahead
    # SLICER_TIME_DIFF_THRESHOLD: share of the quote's time (default: SLICER_DIFF_THRESHOLD)
    slicer_time_diff_threshold: float | None = None

    @property
    def slicer_time_threshold(self) -> float:
        """The tolerance of the slicer's time against the quote's."""
        if self.slicer_time_diff_threshold is None:
            return self.slicer_diff_threshold
        return self.slicer_time_diff_threshold

    @property
    def gcode_dir(self) -> Path:
        return self.upload_dir / "gcode"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DispatcherSettings:
        """Read and cast the dispatcher's settings from ``config`` (e.g. ``app.config``)."""
        return cls(
            timeouts=Timeouts.from_config(config),
            poll_deadline_s=float(config["POLL_DEADLINE_S"]),
            send_wait_s=float(config["SEND_WAIT_S"]),
            lease_s=float(config["DISPATCH_LEASE_S"]),
            interval_s=float(config["DISPATCH_INTERVAL_S"]),
            confirm_polls=int(config["COMPLETION_CONFIRM_POLLS"]),
            start_grace_s=float(config["START_GRACE_S"]),
            retry_base_s=float(config["DISPATCH_RETRY_BASE_S"]),
            slice_budget_s=float(config["SLICE_BUDGET_S"]),
            slicer_diff_threshold=float(config["SLICER_DIFF_THRESHOLD"]),
            upload_dir=Path(config["UPLOAD_DIR"]),
            slicer_profile_dir=str(config["SLICER_PROFILE_DIR"]),
            slicer_bin=str(config["PRUSA_SLICER_BIN"]),
            slicer_timeout_s=float(config["SLICER_TIMEOUT_S"]),
            default_slicer_profile=str(config["DEFAULT_SLICER_PROFILE"]),
            slice_in_pass=str(config.get("SLICING", "worker")) == "dispatcher",
            slicer_time_diff_threshold=(
                None if config.get("SLICER_TIME_DIFF_THRESHOLD") in (None, "")
                else float(config["SLICER_TIME_DIFF_THRESHOLD"])),
        )
