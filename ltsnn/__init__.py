"""ltsnn: spiking neural networks with learnable thresholds for event-camera data."""

__version__ = "0.1.0"
