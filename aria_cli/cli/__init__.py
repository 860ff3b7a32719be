"""The `aria` command line: a table of contents over the core modules.

Each command parses its options and calls one core function; the work (and everything a test needs)
lives in the modules it imports. Imports are inside the commands so `aria --help` stays instant.

- `app`: the Typer app, the options several commands share, and the one-line error contract;
- `data`: games, record, distill, inspect-tokens;
- `train`: train-vqvae, eval-tokenizer, tokenize, train-wm, train-policy, eval;
- `play`: play, bench, quickstart.
"""

# Imported in pipeline order: each module registers its commands, and `aria --help` lists them so.
# isort: off
from aria_cli.cli.app import app
from aria_cli.cli.data import distill, games, inspect_tokens, record
from aria_cli.cli.train import eval_, eval_tokenizer, tokenize, train_policy, train_vqvae, train_wm
from aria_cli.cli.play import bench, play, quickstart
# isort: on

__all__ = ["app", "bench", "distill", "eval_", "eval_tokenizer", "games", "inspect_tokens", "main", "play", "quickstart", "record",
           "tokenize", "train_policy", "train_vqvae", "train_wm"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
