"""The web API (``/api``): what the published page of an app calls, authenticated by a passport."""
