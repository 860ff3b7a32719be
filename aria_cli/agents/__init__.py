"""Agents that play a game, behind one small protocol.

- `base`: the protocol and the model-free agents (random, explore);
- `learned`: the policy and world-model agents, a learned prior inside the explorer.
"""
