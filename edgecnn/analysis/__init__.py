"""Output shapes, receptive field, params/MACs and memory."""
