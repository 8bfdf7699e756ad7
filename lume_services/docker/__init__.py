"""Running the LUME-services stack with docker compose (``lume-services docker start-services``).

:mod:`lume_services.docker.files` holds the packaged compose file and the
model database's SQL init file; :mod:`lume_services.docker.compose` starts
the services, checks that each is ready and stops them.
"""
