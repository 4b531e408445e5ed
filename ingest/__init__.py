"""Intake of device messages (MQTT; HTTP later): decode, validate, batch, evaluate, persist."""
