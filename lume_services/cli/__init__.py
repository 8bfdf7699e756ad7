"""The lume-services command line (``lume-services --help``)."""
