"""Speed and quality benchmarks for jaxlayers: `python -m benchmarks.run --help`."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where their subprocesses run
