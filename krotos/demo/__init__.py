"""The built-in demo dataset: synthesized music written in the real MSD formats."""

from krotos.demo.writer import write_demo_dataset

__all__ = ["write_demo_dataset"]
