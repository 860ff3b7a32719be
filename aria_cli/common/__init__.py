"""What every stage shares: atomic writes, one-line user errors, terminal output, devices, the ARC palette.

- `atomic`: files written whole or not at all;
- `errors`: `AriaError`, the one-line message a user mistake ends with;
- `ui`: the console, progress bars and tables every command prints through;
- `devices`: `--device auto|cpu|cuda` and CPU thread counts;
- `palette`: the ARC colours and frame pictures; `render`: terminal view and GIFs of frames.
"""
