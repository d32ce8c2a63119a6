"""Nudges: stalled-phase reminders and, once a student ships, drift checks and re-distillation reviews."""
