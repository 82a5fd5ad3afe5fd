"""Route and Client: replicate one site's data into another, streaming and incremental."""
