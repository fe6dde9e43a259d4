"""Speed and quality benchmarks for jaxlayers: `python -m benchmarks.run --help`."""
