"""Template tags every app's pages load (kernel: they know no app)."""
