"""Scorecards: criteria templates, scorecard templates, scorecards, their evaluation."""
