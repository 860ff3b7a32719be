"""`python -m aria_cli ...` — the same as the `aria` script; `accelerate launch -m aria_cli train-wm` uses it."""

from aria_cli.cli import main

if __name__ == "__main__":
    main()
