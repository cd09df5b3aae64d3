"""One router per resource; `pytoon.api.app.create_app` includes each of them."""
