"""Distill Bot: the model-distillation checklist as a governed Slack workflow."""
