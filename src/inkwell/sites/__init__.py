"""Published web pages of apps (sites) and the messages their end users saved."""
