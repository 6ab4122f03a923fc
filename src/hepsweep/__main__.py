from hepsweep.cli import entry

entry()
