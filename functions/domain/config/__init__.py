"""The control plane's configuration documents as pure rules: what a valid document is, and what a stored
set of documents gets wrong together."""
