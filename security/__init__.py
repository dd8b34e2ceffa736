"""IP tracking for Django: logs, geolocates, rate-limits, blocks and analyses client IPs."""

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]).
__version__ = "0.4.0"
