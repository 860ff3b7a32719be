"""Test helpers, imported as modules (`from helpers.recordings import write_recording`)."""
