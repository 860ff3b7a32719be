"""The frame tokenizer: a VQ-VAE from a 64x64 frame of 16 colours to an 8x8 grid of codes.

- `model`: the VQ-VAE (its loss: `compute_loss`), its checkpoint, encode/decode;
- `quantizer`: the EMA codebook; `cells`: frames as 8x8 cells, distinct cells, batched encode/decode;
- `memory`: the decoder's memory, training cells recalled by the codes around them;
- `data`: every frame of the recordings, de-duplicated per split, and the training batches;
- `metrics`: val accuracy (per game too), the reconstructions picture, metrics.json; `scores`: frames
  exact, non-background pixel accuracy and the share of val cells new to training;
- `evaluate`: a trained tokenizer on the recordings of other games (`aria eval-tokenizer`);
- `train`: `aria train-vqvae` (on aria_cli.training).
"""
