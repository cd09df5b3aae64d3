"""Pytoon: prompt plus media to finished short vertical videos."""

__version__ = "0.1.0"
