"""A host site made with `django-admin startproject`, plus only what the README's "Using the
app in your own site" tells a newcomer to add. tests/system/test_host_site.py runs it from an
installed wheel of the app. Keep it in step with the README."""
