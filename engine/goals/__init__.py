"""Goals: what an analyst wants reached, with a metric, a threshold and a budget."""
