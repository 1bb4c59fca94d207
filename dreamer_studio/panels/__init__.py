"""The Studio panels. Each draws from a `session.View` on the GUI timer, and only while it is visible."""
