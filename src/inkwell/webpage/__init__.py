"""The browser page of a published app, ``/completion/{code}``: one HTML page and its static assets
(plain HTML, CSS and ES modules in ``static/``, no build step) talking to the web API (``/api``)."""
