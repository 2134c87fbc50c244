"""The telemetry appliance: one program that runs a telemetry pipeline end to end."""

__version__ = "0.1.0"
