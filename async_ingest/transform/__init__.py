"""Per-byte transforms of the data path (UTF-8 validation, code page -> UTF-8, the CSV scan): a C core
(_native.c) with a pure-Python twin (pytwin.py) of identical results; native.py picks one."""
