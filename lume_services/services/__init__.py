"""Services injected through :class:`lume_services.config.Context`."""
