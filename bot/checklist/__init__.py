"""The checklist: its template (data) and its rules (gates). No Slack, no SQL."""
