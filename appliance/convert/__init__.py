"""Conversion of stored submissions: histogram specs by revision (specs, buckets)
and the compact histogram form of classic Telemetry pings (payload).
See docs/conversion.md."""
