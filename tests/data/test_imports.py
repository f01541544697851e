import subprocess
import sys


def test_data_functional_does_not_import_torch():
    code = ("import sys, ltsnn.data, ltsnn.data.functional, ltsnn.data.io, ltsnn.data.simulate; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "ltsnn.data.list_datasets; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_create_dataset_works_in_a_fresh_interpreter():
    """Every data set is registered by ``ltsnn.data`` itself, whatever else was imported before (nothing here)."""
    code = ("from ltsnn.data import create_dataset; "
            "ds = create_dataset('moving_shapes', split='train', root=None, n_time_bins=4, bin_by='duration', seed=0, "
            "cache_dir=None, train_size=3); "
            "assert len(ds) == 3 and tuple(ds[0][0].shape) == (4, 2, 48, 64)")
    subprocess.run([sys.executable, "-c", code], check=True)

