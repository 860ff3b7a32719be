"""The games: the one place that talks to the arc-agi toolkit, and the bundled games with their players.

- `adapter`: find and load games through the toolkit (offline unless asked), the observation type;
- `session`: one running game: reset, step, observe, and its toolkit recording;
- `catalog`: the games aria can run (`aria games`);
- `planners`: per bundled game, a planner that finishes the current level from the game's own state;
- `demonstrators`: scripted players that play whole episodes with the planners, with optional noise;
- `record`: `aria record`, demonstrator episodes written through the toolkit's recorder;
- `level_graphs`: what a recording observed, per level: the explorer's state graphs rebuilt offline;
- `distill`: `aria distill`, recordings of play cut to the shortest observed route per level, replayed
  through the toolkit's recorder;
- `environments/`: the four bundled games, in the toolkit's folder layout.
"""
