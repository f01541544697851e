import subprocess
import sys


def test_data_functional_does_not_import_torch():
    code = ("import sys, ltsnn.data, ltsnn.data.functional, ltsnn.data.io, ltsnn.data.simulate; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "ltsnn.data.list_datasets; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
