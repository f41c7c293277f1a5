"""The autonomous loop: works toward a goal, one recorded trial at a time."""
