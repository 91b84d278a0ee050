"""Message feedback (like / dislike) from end users, and the app's feedback list."""
