"""Where preview audio comes from: a local folder or the 7digital preview API."""
