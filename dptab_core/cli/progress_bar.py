"""A one-line terminal progress bar for foreground jobs: stage, bar, percent, ε spent, message.

On a terminal the line is redrawn in place; anywhere else (a log file, CI, a pipe) carriage returns
would pile up into one unreadable line, so it prints whole lines instead: at each stage's start and
end and each time the stage passes another quarter.

>>> import io
>>> out = io.StringIO()
>>> bar = ProgressBar(out)
>>> for f in (0.0, 0.1, 0.3, 0.35, 0.6, 1.0):
...     bar.update({"stage": "dpsgd", "stage_fraction": f, "message": f"step {f}"})
>>> [line.split("]")[1].strip() for line in out.getvalue().splitlines()]
['0%  step 0.0', '30%  step 0.3', '60%  step 0.6', '100%  step 1.0']
"""

from __future__ import annotations

from typing import Any, TextIO

WIDTH = 24
STEPS_OFF_TTY = 4
"""Lines per stage between start and end when the output is not a terminal (one per quarter)."""


class ProgressBar:
    """Redraws one line per progress event (a new line when the stage changes)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.stage: str | None = None
        self.bucket = -1
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
        else:
            bucket = int(fraction * STEPS_OFF_TTY)
            if stage != self.stage or bucket != self.bucket or fraction >= 1.0:
                self.stream.write(line + "\n")
            self.bucket = bucket
        self.stage = stage
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
