"""Learning from trials: performance tracking, trend detection, insights."""
