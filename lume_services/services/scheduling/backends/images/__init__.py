"""Docker images for flows: the engine, the runtime image and flow images.

Its parts: ``engine`` (the Docker engine: reachability, building, inspecting),
``runtime_image`` (the image flows run in, from ``docker/Dockerfile``) and
``flow_images`` (a registered flow packaged with Prefect's ``Docker`` storage).
The ``docker`` and ``kubernetes`` backends use them; importing this package
imports none of them (the docker SDK is imported when first used).
"""
