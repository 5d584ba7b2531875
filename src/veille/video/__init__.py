"""Video access and the activity scan."""
