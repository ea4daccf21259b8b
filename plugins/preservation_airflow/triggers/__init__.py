"""Triggers the triggerer runs while a task is deferred (new uploads in the drop box)."""
