"""One reader per event-file format, each returning a :class:`Recording` (Events + sensor size).

:func:`read_events` picks the reader by header and suffix; :func:`iter_events` streams files
larger than memory in chunks. Errors are ``FileNotFoundError`` or ``ValueError`` naming the file,
the byte offset or event index, and what was expected. Data sets read their files through the
``*_sample`` readers, which refuse a file with no events.
"""

from ltsnn.data.io.aedat import read_aedat, read_cifar10dvs
from ltsnn.data.io.aedat4 import read_aedat4
from ltsnn.data.io.atis import NMNIST_SENSOR_SIZE, read_atis_bin
from ltsnn.data.io.boxes import BOX_DTYPE, read_gen1_boxes, reformat_boxes
from ltsnn.data.io.dat import DatFile, read_dat, write_dat
from ltsnn.data.io.evt2 import read_evt2
from ltsnn.data.io.evt3 import read_evt3
from ltsnn.data.io.formats import FORMATS, detect_format, iter_events, read_events
from ltsnn.data.io.recording import MAX_SENSOR_SIDE, Recording
from ltsnn.data.io.samples import read_aedat_sample, read_atis_sample, read_cifar10dvs_sample, read_dat_sample

__all__ = ["Recording", "read_events", "iter_events", "detect_format", "FORMATS", "read_atis_bin", "read_aedat",
           "read_cifar10dvs", "read_aedat4", "read_dat", "DatFile", "write_dat", "read_evt2", "read_evt3",
           "read_gen1_boxes", "reformat_boxes", "BOX_DTYPE", "NMNIST_SENSOR_SIZE", "MAX_SENSOR_SIDE",
           "read_atis_sample", "read_aedat_sample", "read_cifar10dvs_sample", "read_dat_sample"]
