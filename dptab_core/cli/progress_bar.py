"""A one-line terminal progress bar for foreground jobs: stage, bar, percent, ε spent, message."""

from __future__ import annotations

from typing import Any, TextIO

WIDTH = 24


class ProgressBar:
    """Redraws one line per progress event (a new line when the stage changes)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.stage: str | None = None
        self.tty = stream.isatty()

    def update(self, event: dict[str, Any]) -> None:
        stage = event.get("stage", "")
        fraction = float(event.get("stage_fraction", event.get("fraction", 0.0)))
        filled = int(round(WIDTH * fraction))
        eps = event.get("epsilon_spent")
        planned = event.get("epsilon_planned")
        budget = f"  ε {eps:.3f}/{planned:g}" if eps is not None and planned else ""
        line = f"{stage:<15} [{'#' * filled}{'.' * (WIDTH - filled)}] {100 * fraction:3.0f}%{budget}  {event.get('message', '')}"
        if self.tty:
            prefix = "\n" if self.stage not in (None, stage) else "\r"
            self.stream.write(prefix + line[:160].ljust(160))
        elif fraction in (0.0, 1.0) or stage != self.stage:
            self.stream.write(line + "\n")
        self.stage = stage
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
