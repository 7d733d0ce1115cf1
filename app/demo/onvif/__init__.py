"""The ONVIF SOAP service of the demo's virtual cameras (Device, Media, PTZ, Imaging)."""

from app.demo.onvif.service import OnvifService

__all__ = ["OnvifService"]
