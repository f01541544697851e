"""One reader per file format; each returns Events (see :mod:`ltsnn.data.events`)."""

from ltsnn.data.io.atis import NMNIST_SENSOR_SIZE, read_atis_bin

__all__ = ["NMNIST_SENSOR_SIZE", "read_atis_bin"]
