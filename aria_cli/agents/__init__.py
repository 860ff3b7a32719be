"""Agents that play a game, behind one small protocol.

- `base`: the protocol (`Agent`, `GameStart`, `Decision`) and the model-free agents (random, explore);
- `contexts`: the trained models loaded for play, and the KV-cached token contexts they read a game through;
- `prior`: the learned prior: how candidate actions are scored, mixed with the uniform, trusted online;
- `learned`: the policy and world-model agents, and the factories that build them by name.
"""
