"""Simulated devices that speak MQTT exactly as real ones do (never importing the engine)."""
