"""Tests of the built-in demo: virtual cameras, their pictures, streams, faults and ONVIF."""
