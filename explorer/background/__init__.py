"""The one way work runs off the GUI thread.

Two flavours with one shape: ``TrainingController`` (training.py) runs a training job
in a child process, for long runs at full speed; ``BackgroundRun`` (runs.py) runs short
work on a QThread (a lab experiment's training, a dataset download). Both

- start with ``start(...)`` and refuse a second run while one is going;
- report progress through signals that arrive in the GUI thread, carrying plain data
  (numpy arrays, frozen dataclasses), never widgets or live tensors;
- stop when asked (``stop()``: the work checks a flag between steps);
- end every run with exactly one last signal: ``finished`` (BackgroundRun: an error
  message that says what to change, or ""; TrainingController: ``finished`` with the
  run's result or ``failed`` with what went wrong);
- answer ``is_running`` while a run is going;
- ``shutdown(timeout)``: stop and join, leaving no thread or process behind (the
  window calls it through each panel's ``shutdown`` when it closes).

The GUI never waits on them: it keeps the latest result and redraws on a timer.
"""
