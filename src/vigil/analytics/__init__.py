"""Video analytics: detectors, tracking and behaviours over camera frames.

Detections flow as one type (`vigil.analytics.detections.Detections`) from detector to tracker
to behaviours.
"""
